"""The agent console's figures: the page's weight on first load (bytes transferred),
the time from a customer's message to its display in the console (p50/p99), and the
tab's memory after a conversation of many messages.

    KEFU_BIN=target/release/kefu /path/to/venv/bin/python bench/console.py [--messages 100] [--history 1000]
        [--rabbitmq-postgres]

The venv is the console tests' (bash .ci/console makes it under the target directory);
Chromium is Debian's. It starts its own `kefu serve`: SQLite and the embedded queue (the
default), or the local RabbitMQ and a fresh PostgreSQL database.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "console"))

from conftest import CHROMIUM, Kefu, sign_in  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100, help="messages timed from send to display")
    ap.add_argument("--history", type=int, default=1000, help="messages in the conversation when memory is read")
    ap.add_argument("--rabbitmq-postgres", action="store_true", help="RabbitMQ and PostgreSQL on this machine instead of the embedded default")
    args = ap.parse_args()
    db = None
    if args.rabbitmq_postgres:
        db = f"kefu_t_console_{os.getpid()}"
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {db}", "postgres"], check=True)

    kefu = Kefu(
        database_url=db and f"postgres://postgres@127.0.0.1:5432/{db}",
        amqp_url=db and "amqp://guest:guest@127.0.0.1:5672/%2f",
    )
    kefu.cli("migrate")
    identify, agent = kefu.app(1)
    kefu.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM)
            ctx = browser.new_context(viewport={"width": 1280, "height": 800})
            page = ctx.new_page()
            cdp = ctx.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            transferred = []
            cdp.on("Network.loadingFinished", lambda e: transferred.append(e["encodedDataLength"]))
            page.goto(kefu.base + "/console", wait_until="networkidle")
            weight = sum(transferred)
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": False})

            sign_in(page, kefu, agent)
            session, qid = kefu.customer(identify, "bench", "Timing the console")
            page.get_by_role("option").filter(has_text="Timing the console").click()
            page.get_by_role("button", name="Serve").click()
            page.get_by_role("button", name="Quit").wait_for()
            page.evaluate(
                """() => { window.__shown = {};
                new MutationObserver((records) => { for (const r of records) for (const n of r.addedNodes)
                  if (n.dataset && n.dataset.message) window.__shown[n.textContent] = Date.now(); })
                .observe(document.querySelector('.log'), { childList: true }); }"""
            )
            sent = {}
            for i in range(args.messages):
                text = f"计时消息 {i}"
                sent[text] = time.time() * 1000
                kefu.say(session, qid, "bench", text)
                time.sleep(0.02)
            page.wait_for_function(f"() => Object.keys(window.__shown).length >= {args.messages}", timeout=60_000)
            shown = page.evaluate("() => window.__shown")
            latencies = []
            for text, at in sent.items():
                when = next(v for k, v in shown.items() if k.endswith(text))
                latencies.append(when - at)

            for i in range(max(0, args.history - args.messages)):
                kefu.say(session, qid, "bench", f"历史消息 {i}")
            page.locator(".msg").filter(has_text=f"历史消息 {args.history - args.messages - 1}").wait_for(timeout=120_000)
            cdp.send("HeapProfiler.enable")
            cdp.send("HeapProfiler.collectGarbage")
            cdp.send("Performance.enable")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            browser.close()
    finally:
        kefu.stop()
        if db:
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-c", f"DROP DATABASE {db} WITH (FORCE)", "postgres"])

    print(f"page weight on first load: {weight} bytes transferred ({weight / 1024:.1f} KiB)")
    print(
        f"customer message to display, {len(latencies)} messages: p50 {percentile(latencies, 50):.0f} ms, "
        f"p99 {percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms, mean {statistics.mean(latencies):.0f} ms"
    )
    print(
        f"tab after {args.history} messages: JS heap {metrics['JSHeapUsedSize'] / 2**20:.1f} MiB used "
        f"({metrics['JSHeapTotalSize'] / 2**20:.1f} MiB total), {int(metrics['Nodes'])} DOM nodes"
    )


if __name__ == "__main__":
    main()
