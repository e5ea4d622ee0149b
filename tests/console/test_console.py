"""The agent console in a real Chromium against a real `kefu serve`."""

import base64
import re
import time

from playwright.sync_api import expect

from conftest import PASSWORD, shot, sign_in

# A 2×2 JPEG (the API takes JPEG only).
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/"
    "2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAACAAIDASIAAhEBAxEB/8QA"
    "HwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkK"
    "FhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXG"
    "x8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAEC"
    "AxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOE"
    "hYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD3+iiigD//2Q=="
)


def open_question(page, title):
    page.get_by_role("option").filter(has_text=title).click()
    page.get_by_role("heading", name=title).wait_for()


def test_wrong_password_says_why(kefu, shop, tabs):
    page = tabs().page
    page.goto(kefu.base + "/console")
    page.get_by_label("Agent ID").fill(shop[1])
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong password")
    page.get_by_label("Agent ID").fill("nobody")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("no agent account")


def test_a_whole_conversation_with_the_demo_customer(kefu, shop, tabs):
    identify, agent = shop
    console = tabs().page
    sign_in(console, kefu, agent)
    expect(console).to_have_title("Kefu")
    shot(console, "console-signed-in")

    customer = tabs().page
    customer.goto(f"{kefu.base}/console/demo?identify={identify}")
    customer.get_by_label("User ID").fill("ann")
    customer.get_by_label("Name").fill("Ann")
    customer.get_by_label("Question").fill("My parcel has not arrived")
    customer.get_by_role("button", name="Ask").click()
    expect(customer.get_by_role("status")).to_have_text("Connected")

    # The new question appears live, counted in the title.
    item = console.get_by_role("option").filter(has_text="My parcel has not arrived")
    expect(item).to_be_visible()
    expect(console).to_have_title("(1) Kefu")
    item.click()
    expect(console).to_have_title("Kefu")
    expect(console.locator("aside.user")).to_contain_text("Ann")
    expect(console.locator(".position")).to_contain_text("1")
    console.get_by_role("button", name="Serve").click()
    expect(console.get_by_role("button", name="Finish", exact=True)).to_be_visible()
    expect(customer.get_by_role("log")).to_contain_text("Serving started")

    box = console.get_by_role("textbox", name="Message")
    box.fill("您好，请问有什么可以帮您？")
    box.press("Control+Enter")
    expect(customer.get_by_role("log")).to_contain_text("您好，请问有什么可以帮您？")
    expect(box).to_have_value("")

    customer.get_by_role("textbox", name="Message").fill("Order 1234, sent last week.")
    customer.get_by_role("button", name="Send").click()
    expect(console.get_by_role("log")).to_contain_text("Order 1234, sent last week.")

    console.get_by_role("button", name="Request finish").click()
    expect(customer.get_by_role("log")).to_contain_text("Asked to finish")
    expect(console.get_by_role("button", name="Request finish")).to_have_count(0)
    console.get_by_role("button", name="Finish", exact=True).click()
    expect(customer.get_by_role("log")).to_contain_text("Finished")
    console.get_by_role("tab", name="Finished").click()
    expect(console.get_by_role("option").filter(has_text="My parcel has not arrived")).to_be_visible()
    shot(console, "console-conversation")
    shot(customer, "demo-customer")


def test_an_image_is_sent_and_displayed(kefu, shop, tabs):
    identify, agent = shop
    session, qid = kefu.customer(identify, "ivy", "A picture of the box")
    console = tabs().page
    sign_in(console, kefu, agent)
    open_question(console, "A picture of the box")
    console.get_by_role("button", name="Serve").click()
    expect(console.get_by_role("button", name="Quit")).to_be_visible()
    console.get_by_label("Image").set_input_files({"name": "box.jpg", "mimeType": "image/jpeg", "buffer": JPEG})
    img = console.get_by_role("log").get_by_role("img")
    expect(img).to_have_count(1)
    console.wait_for_function("() => { const i = document.querySelector('.log img'); return i && i.complete && i.naturalWidth === 2; }")
    # Stored as sent: the customer reads back the very bytes.
    page = kefu.call("GET", f"/v1/question/{qid}/message?num=5", session=session)
    url = next(m["image_url"] for m in page["messages"] if m["type"] == 2)
    import urllib.request

    assert urllib.request.urlopen(url).read() == JPEG


def test_a_quick_answer_is_inserted_through_slash(kefu, shop, tabs):
    identify, agent = shop
    kefu.customer(identify, "quinn", "Where is it?")
    console = tabs().page
    sign_in(console, kefu, agent)
    open_question(console, "Where is it?")
    console.get_by_role("button", name="Serve").click()
    box = console.get_by_role("textbox", name="Message")
    expect(box).to_be_enabled()
    box.fill("/parcel")
    listbox = console.get_by_role("listbox", name="Quick answers")
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(listbox.get_by_role("option")).to_contain_text("Where is my parcel?")
    box.press("Enter")
    expect(box).to_have_value("Track it under My orders; it takes 3 to 5 days.")
    expect(listbox).to_be_hidden()
    # Arrows move through several; a click inserts too.
    box.fill("/")
    expect(listbox.get_by_role("option")).to_have_count(2)
    box.press("ArrowDown")
    expect(listbox.get_by_role("option").nth(1)).to_have_attribute("aria-selected", "true")
    listbox.get_by_role("option").nth(1).click()
    expect(box).to_have_value("Refunds reach your card within a week.")


def test_the_page_recovers_after_a_server_restart(kefu, shop, tabs):
    identify, agent = shop
    session, qid = kefu.customer(identify, "rita", "Restart me")
    console = tabs().page
    sign_in(console, kefu, agent)
    open_question(console, "Restart me")
    console.get_by_role("button", name="Serve").click()
    expect(console.get_by_role("button", name="Finish", exact=True)).to_be_visible()
    kefu.stop()
    expect(console.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible(timeout=15_000)
    kefu.start()
    expect(console.get_by_role("status").filter(has_text="Connected")).to_be_visible(timeout=15_000)
    kefu.say(session, qid, "rita", "Are you still there?")
    expect(console.get_by_role("log")).to_contain_text("Are you still there?")
    # A question asked while the page was away is listed too, without a reload.
    kefu.stop()
    expect(console.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible(timeout=15_000)
    kefu.start()
    kefu.customer(identify, "sam", "Asked during the outage")
    expect(console.get_by_role("option").filter(has_text="Asked during the outage")).to_be_visible(timeout=15_000)


def test_markup_from_users_is_shown_as_text(kefu, shop, tabs):
    identify, agent = shop
    evil = '<img src=x onerror="window.__pwned=1">'
    session, qid = kefu.customer(identify, "mallory", f"Title {evil}", user_name=f"<b>Mal</b>{evil}")
    kefu.say(session, qid, "mallory", f"<script>window.__pwned=2</script>{evil}")
    console = tabs().page
    sign_in(console, kefu, agent)
    item = console.get_by_role("option").filter(has_text=f"Title {evil}")
    expect(item).to_be_visible()
    item.click()
    expect(console.get_by_role("log")).to_contain_text(f"<script>window.__pwned=2</script>{evil}")
    expect(console.locator("aside.user")).to_contain_text(f"<b>Mal</b>{evil}")
    expect(console.get_by_role("heading", name=f"Title {evil}")).to_be_visible()
    console.wait_for_timeout(300)
    assert console.evaluate("() => window.__pwned") is None
    assert console.locator("img[src=x], script:not([src]), b").count() == 0


def test_the_chinese_ui_for_a_chinese_browser(kefu, shop, tabs):
    identify, agent = shop
    page = tabs(locale="zh-CN").page
    page.goto(kefu.base + "/console")
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    page.get_by_label("客服账号").fill(agent)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("status").filter(has_text="已连接")).to_be_visible()
    expect(page.get_by_role("tab", name="待解决")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    # And switchable: English from then on.
    page.get_by_role("combobox", name="语言").select_option("en")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    shot(page, "console-english-after-switch")


def test_keyboard_alone(kefu, shop, tabs):
    identify, agent = shop
    kefu.customer(identify, "kim", "First by keyboard")
    kefu.customer(identify, "lee", "Second by keyboard")
    console = tabs().page
    sign_in(console, kefu, agent)
    waiting = console.get_by_role("listbox", name="Waiting")
    expect(waiting.get_by_role("option")).to_have_count(2)
    console.locator("body").click(position={"x": 5, "y": 790})
    console.keyboard.press("j")
    expect(waiting.get_by_role("option").nth(1)).to_have_attribute("aria-selected", "true")
    console.keyboard.press("k")
    expect(waiting.get_by_role("option").nth(0)).to_have_attribute("aria-selected", "true")
    console.keyboard.press("Enter")
    expect(console.get_by_role("heading", name="First by keyboard")).to_be_visible()
    console.keyboard.press("?")
    dialog = console.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_contain_text("Ctrl+Enter")
    console.keyboard.press("Escape")
    expect(dialog).to_have_count(0)


def test_sign_out_unbinds_and_the_cookie_session_ends(kefu, shop, tabs):
    identify, agent = shop
    page = tabs().page
    sign_in(page, kefu, agent)
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["kefu_console"]["httpOnly"] and cookies["kefu_console"]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").find("kefu_console") == -1
    token = cookies["kefu_console"]["value"]
    # Without the CSRF header a state-changing call with the cookie is refused.
    status = page.evaluate(
        """async () => (await fetch('/v1/serv/unbind', {method: 'POST', headers: {'content-type': 'application/json'},
        body: JSON.stringify({serv_id: '%s', password: '%s'})})).status""" % (agent, PASSWORD)
    )
    assert status == 403
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    gone = kefu.call("GET", "/v1/question/list", session=token)
    assert gone["status"] == 300 and gone["error"] == 10011, gone


def test_the_consoles_own_logic(kefu, tabs):
    """Unit tests of the modules where logic lives, run in the same Chromium."""
    page = tabs().page
    page.goto(kefu.base + "/console")
    result = page.evaluate(
        """async () => {
        const { parseSse, retryDelay, Feed, LONG_GAP_MS } = await import('/console/feed.js');
        const { slashQuery } = await import('/console/answers.js');
        const { placeByTime } = await import('/console/messages.js');
        const out = {};
        const log = document.createElement('div');
        for (const ts of [3, 1, 2, 2.5, 0.5]) { const el = document.createElement('p'); el.textContent = ts; placeByTime(log, el, ts); }
        out.order = [...log.children].map((el) => Number(el.textContent));
        let r = parseSse('id: 1\\nevent: message\\ndata: {"a":1}\\n\\n: heartbeat\\n\\nid: 2\\ndata: x\\ndata: y\\n\\nid: 3\\nda');
        out.parsed = r.events; out.rest = r.rest;
        out.crlf = parseSse('event: reset\\r\\ndata: {}\\r\\n\\r\\n').events;
        out.delays = [0, 1, 2, 3, 10].map((a) => retryDelay(a, () => 0.5));
        out.slash = [slashQuery('/ parcel '), slashQuery('/'), slashQuery('hello /x'), slashQuery('x')];
        // A feed over a fake fetch: connects, loses the stream, reconnects with Last-Event-ID,
        // and asks for a reload after a long gap.
        const seen = []; const states = []; const reloads = []; const asked = [];
        let clock = 0; let call = 0;
        const body = (text) => new Response(text, { status: 200, headers: { 'content-type': 'text/event-stream' } });
        const fetch = async (url, init) => {
          asked.push(init.headers['last-event-id'] || null);
          call += 1;
          if (call === 1) return body('id: e1\\nevent: question\\ndata: {"q":1}\\n\\n');
          if (call === 2) { clock += LONG_GAP_MS + 1; throw new TypeError('down'); }
          if (call === 3) return body('id: e2\\nevent: reset\\ndata: {}\\n\\n');
          if (call === 4) return body('event: revoked\\ndata: {"reason":"x"}\\n\\n');
        };
        await new Promise((done) => {
          const feed = new Feed('/s', { fetch, now: () => clock, onEvent: (e) => seen.push(e), onState: (s) => states.push(s),
            onReload: (why) => reloads.push(why), onRevoked: () => done() });
          feed.start();
        });
        Object.assign(out, { seen, states, reloads, asked });
        return out;
      }"""
    )
    assert result["parsed"] == [
        {"id": "1", "event": "message", "data": '{"a":1}'},
        {"id": "2", "event": "message", "data": "x\ny"},
    ]
    assert result["rest"] == "id: 3\nda"
    assert result["order"] == [0.5, 1, 2, 2.5, 3]
    assert result["crlf"] == [{"id": None, "event": "reset", "data": "{}"}]
    assert result["delays"] == [500, 1000, 2000, 4000, 5000]
    assert result["slash"] == ["parcel", "", None, None]
    assert result["seen"] == [{"type": "question", "id": "e1", "data": {"q": 1}}]
    assert result["asked"] == [None, "e1", "e1", "e2"]
    assert result["reloads"] == ["gap", "reset", "reconnected"]
    assert result["states"][:3] == ["connecting", "connected", "reconnecting"]
    assert result["states"][-1] == "closed"


class StandInIm:
    """Tencent Cloud IM's send_msg, played by a local HTTP server: answers OK after a
    pause, and refuses for good any text containing "REFUSE" (141005)."""

    def __init__(self, pause=1.5):
        import http.server
        import json
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"] or 0)).decode()
                if "REFUSE" in body:
                    answer = {"ActionStatus": "FAIL", "ErrorInfo": "session ended", "ErrorCode": 141005}
                else:
                    time.sleep(pause)
                    answer = {"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_own_messages_show_their_delivery_state_live(kefu, shop, tabs):
    identify, agent = shop
    im = StandInIm()
    try:
        kefu.cli("admin", "app", "set-im", "--identify", identify, "--base-url", im.url, "--sdkappid", "1400000000",
                 "--identifier", "administrator", "--secret-key", "stand-in-key", "--from-account", "@customer_service_account")
        kefu.customer(identify, "dana", "Did it arrive?")
        console = tabs().page
        sign_in(console, kefu, agent)
        open_question(console, "Did it arrive?")
        console.get_by_role("button", name="Serve").click()
        box = console.get_by_role("textbox", name="Message")
        expect(box).to_be_enabled()
        box.fill("It is on its way.")
        console.get_by_role("button", name="Send").click()
        mine = console.locator(".msg.mine").filter(has_text="It is on its way.")
        expect(mine.locator(".state")).to_have_text("pending")
        expect(mine.locator(".state")).to_have_text("delivered", timeout=15_000)
        box.fill("REFUSE this one")
        box.press("Meta+Enter")
        refused = console.locator(".msg.mine").filter(has_text="REFUSE this one")
        expect(refused.locator(".state")).to_contain_text("failed", timeout=15_000)
        expect(refused.locator(".state")).to_contain_text("141005")
    finally:
        im.close()


def test_leave_messages_are_listed_opened_and_tagged(kefu, shop, tabs):
    import hashlib
    import json
    import urllib.request

    identify, agent = shop
    ts = str(int(time.time() * 1000))
    sig = hashlib.sha1((identify + kefu.secrets[identify] + ts).encode()).hexdigest()
    body = {"contact": "李雷 <i>x</i>", "callback": "tel", "tel": "+8613800138000", "subject": "订单没有到", "content": "三天了"}
    req = urllib.request.Request(f"{kefu.base}/api/v1/{identify}/leavemessage", data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    req.add_header("Kefu-Timestamp", ts)
    req.add_header("Kefu-Signature", sig)
    with urllib.request.urlopen(req) as res:
        assert json.loads(res.read())["errcode"] == 0
    console = tabs().page
    sign_in(console, kefu, agent)
    console.get_by_role("tab", name="Leave messages").click()
    item = console.get_by_role("listbox", name="Leave messages").get_by_role("option").filter(has_text="订单没有到")
    item.click()
    expect(console.get_by_role("heading", name="订单没有到")).to_be_visible()
    expect(console.locator(".leave")).to_contain_text("李雷 <i>x</i>")
    expect(console.locator(".leave")).to_contain_text("三天了")
    console.get_by_label("Tag").fill("已回访")
    console.get_by_role("button", name="Save tag").click()
    expect(item).to_contain_text("已回访")


def test_history_is_paged_backwards_on_scroll(kefu, shop, tabs):
    identify, agent = shop
    session, qid = kefu.customer(identify, "paul", "A long story")
    for i in range(70):
        kefu.say(session, qid, "paul", f"line {i:02d}")
    console = tabs().page
    sign_in(console, kefu, agent)
    open_question(console, "A long story")
    log = console.get_by_role("log")
    expect(log).to_contain_text("line 69")
    # Only the newest page at first, never the whole history.
    assert console.locator(".log .msg").filter(has_text="line").count() == 30
    for expected in ("line 39", "line 09", "line 00"):
        console.locator(".log").evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        expect(log).to_contain_text(expected)
    expect(log).to_contain_text("The beginning of the conversation.")
    texts = console.locator(".log .msg .text").all_inner_texts()
    assert texts == [f"line {i:02d}" for i in range(70)], texts
