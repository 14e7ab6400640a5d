"""Headless Chromium driven over the DevTools protocol, standard library only.

Chromium's ``--remote-debugging-pipe`` reads NUL-terminated JSON commands on file descriptor 3
and writes replies and events on 4, so no WebSocket client, driver binary or network port is
needed. Used by tests/test_report_browser.py to open the Snakemake report as a person would.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

# Flags for a test run as root in a container: no sandbox (it needs user namespaces), nothing
# that phones home, a fresh profile.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


class Browser:
    """One Chromium process with one page; ``evaluate`` runs JavaScript in it."""

    def __init__(self, executable: str, *, width: int = 1400, height: int = 1000, timeout: float = 60):
        self.timeout = timeout
        self.width, self.height = width, height
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
        commands_read, commands_write = os.pipe()
        replies_read, replies_write = os.pipe()
        args = [executable, *FLAGS, f"--user-data-dir={self._profile.name}", f"--window-size={width},{height}",
                "--remote-debugging-pipe", "about:blank"]
        # bash puts the pipe ends on descriptors 3 and 4, where Chromium expects them
        line = f"exec {shlex.join(args)} 3<&{commands_read} 4>&{replies_write}"
        self._process = subprocess.Popen(["bash", "-c", line], pass_fds=(commands_read, replies_write),
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(commands_read)
        os.close(replies_write)
        self._commands = os.fdopen(commands_write, "wb", buffering=0)
        self._replies = os.fdopen(replies_read, "rb", buffering=0)
        self._buffer = b""
        self._last_id = 0
        self._session: str | None = None

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _message(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = self._replies.read(1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe (did it start?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def command(self, method: str, *, browser_level: bool = False, **params) -> dict:
        """Send one DevTools command and return its result (events in between are skipped)."""
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params}
        if self._session and not browser_level:
            message["sessionId"] = self._session
        self._commands.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str) -> None:
        target = self.command("Target.createTarget", browser_level=True, url="about:blank")["targetId"]
        self._session = self.command("Target.attachToTarget", browser_level=True, targetId=target,
                                     flatten=True)["sessionId"]
        self.command("Page.enable")
        # the page's viewport exactly (the window size also counts the hidden browser frame)
        self.command("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                     deviceScaleFactor=1, mobile=False)
        self.command("Page.navigate", url=url)

    def evaluate(self, expression: str):
        """Value of a JavaScript expression in the page (promises awaited)."""
        result = self.command("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('exception', result['exceptionDetails'])}")
        return result["result"].get("value")

    def wait_for(self, expression: str):
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            # a DOM node cannot be returned by value: it stands for true
            value = self.evaluate(
                f"(() => {{ try {{ const v = {expression}; return v instanceof Node ? true : v; }}"
                " catch (e) { return null; } })()"
            )
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"page never showed: {expression}")

    def screenshot(self, path: Path) -> None:
        data = self.command("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self.command("Browser.close", browser_level=True)
            except (RuntimeError, OSError):
                pass
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._commands.close()
        self._replies.close()
        self._profile.cleanup()
