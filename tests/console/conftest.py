"""The agent console's browser tests: a real `kefu serve` (the embedded default,
SQLite and the embedded queue), Debian's Chromium driven by Playwright.

KEFU_BIN names the binary; screenshots go to KEFU_CONSOLE_SHOTS (a directory under the
target directory when run by .ci/console)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("KEFU_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct-horse-9"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Kefu:
    """One `kefu serve` with its own database (SQLite unless `database_url`; the embedded
    queue unless `amqp_url`), started and restarted on one port."""

    def __init__(self, database_url=None, amqp_url=None):
        self.bin = os.environ.get("KEFU_BIN") or shutil.which("kefu")
        assert self.bin, "KEFU_BIN must name the kefu binary"
        self.dir = tempfile.mkdtemp(prefix="kefu-console-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            KEFU_DATABASE_URL=database_url or f"sqlite://{self.dir}/kefu.db?mode=rwc",
            KEFU_HTTP_ADDR=f"127.0.0.1:{self.port}",
            KEFU_MEDIA_DIR=f"{self.dir}/media",
            KEFU_CONSOLE_DEMO="1",
            KEFU_LOGIN_SLOW_MS="0",
            # One customer of a test sends many messages in a row.
            KEFU_SESSION_RATE_PER_SEC="0",
            KEFU_SSE_HEARTBEAT_SECS="2",
            RUST_LOG="warn",
        )
        self.env.pop("KEFU_AMQP_URL", None)
        if amqp_url:
            self.env.update(KEFU_AMQP_URL=amqp_url, KEFU_AMQP_PREFIX=f"kefu-test-console-{self.port}")
        self.proc = None
        self.secrets = {}
        self.log = open(f"{self.dir}/kefu.log", "ab")

    def cli(self, *args, stdin=None):
        out = subprocess.run([self.bin, *args], env=self.env, input=stdin, capture_output=True, text=True, check=True)
        return json.loads(out.stdout) if out.stdout.strip().startswith("{") else out.stdout

    def start(self):
        self.proc = subprocess.Popen([self.bin, "serve"], env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("kefu serve did not come up")

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def call(self, method, path, body=None, session=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("content-type", "application/json")
        req.add_header("accept", "application/json")
        if session:
            req.add_header("authorization", "Bearer " + session)
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                return json.loads(res.read())
        except urllib.error.HTTPError as err:
            return json.loads(err.read())

    def app(self, n):
        """A fresh app with one agent and a quick-answer template: (identify, serv_id)."""
        identify, agent = f"com.example.shop{n}", f"agent{n}"
        self.secrets[identify] = self.cli("admin", "app", "create", "--identify", identify, "--name", f"Shop {n}")["secret"]
        self.cli("admin", "agent", "create", "--serv-id", agent, "--password-stdin", "--app", identify, stdin=PASSWORD + "\n")
        tpl = self.cli("admin", "template", "create", "--identify", identify, "--title", "Shipping")
        self.cli("admin", "template", "add-item", "--template", tpl["template_id"], "--question", "Where is my parcel?",
                 "--content", "Track it under My orders; it takes 3 to 5 days.")
        self.cli("admin", "template", "add-item", "--template", tpl["template_id"], "--question", "Refunds",
                 "--content", "Refunds reach your card within a week.")
        return identify, agent

    def customer(self, identify, user_id, title, user_name=None):
        """A customer (through the demo's session endpoint) who asks a question."""
        s = self.call("POST", "/console/demo/session", {"identify": identify, "user_id": user_id, "user_name": user_name or user_id})
        assert s["status"] == 200, s
        q = self.call("POST", "/v1/question/new", {"title": title}, s["session"])
        assert q["status"] == 200, q
        return s["session"], q["question_id"]

    def say(self, session, question_id, user_id, text):
        r = self.call("POST", f"/v1/question/{question_id}/message/send_text", {"sender": user_id, "sender_type": 1, "text": text}, session)
        assert r["status"] == 200, r
        return r["message_id"]


@pytest.fixture(scope="session")
def kefu():
    k = Kefu()
    k.cli("migrate")
    k.start()
    yield k
    k.stop()
    print(f"kefu's log: {k.dir}/kefu.log")


_apps = iter(range(1, 10_000))


@pytest.fixture
def shop(kefu):
    """This test's own app and agent (lists and title counts of other tests stay apart)."""
    return kefu.app(next(_apps))


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--enable-precise-memory-info"])
        yield b
        b.close()


SHOTS = os.environ.get("KEFU_CONSOLE_SHOTS", tempfile.gettempdir() + "/kefu-console-shots")


def shot(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}.png")


class Tab:
    """A page with every script error and console error collected."""

    def __init__(self, context):
        self.page = context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))


@pytest.fixture
def tabs(browser):
    """New tabs (each in its own context unless `same` is given); none may log errors."""
    made = []

    def new(locale="en-US", context=None):
        ctx = context or browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
        tab = Tab(ctx)
        made.append(tab)
        return tab

    yield new
    errors = [e for tab in made for e in tab.errors if not expected_error(e)]
    for tab in made:
        tab.page.context.close()
    assert errors == [], errors


def expected_error(text):
    # A fetch the browser logs when the server is gone on purpose (the restart test),
    # and the 4xx of a wrong password the sign-in test asks for.
    return "net::ERR_CONNECTION_REFUSED" in text or "Failed to load resource" in text


def sign_in(page, kefu, agent, password=PASSWORD):
    page.goto(kefu.base + "/console")
    page.get_by_label("Agent ID").fill(agent)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
    page.get_by_role("status").filter(has_text="Connected").wait_for()
