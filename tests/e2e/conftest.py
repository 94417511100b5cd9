"""The waiting room in a real browser: fixtures.

Each test gets its own boxoffice (the debug binary `scripts/e2e.sh` built) with its own
database and Redis key prefix on the local stack (Postgres and the six-node Redis
Cluster of `scripts/stack.sh`), and fans as Chromium browser contexts driven by
Playwright. Screenshots go to target/e2e/<test>/; every screen a test visits is checked
with axe-core for serious accessibility violations.
"""

import json
import os
import re
import select
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(os.environ.get("E2E_OUT", ROOT / "target" / "e2e"))
BINARY = os.environ.get("BOXOFFICE_BIN", str(ROOT / "target" / "debug" / "boxoffice"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Chromium as root in a sandbox-less container, with nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# What a page should show soon, on a machine as busy as a test run makes it; the tests of a
# bound (a hold pushed within a second) say their own.
expect.set_options(timeout=15000)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SERIOUS = {"serious", "critical"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


class Service:
    """One boxoffice on the local stack, with its own database and key prefix."""

    def __init__(self, name, env=None):
        self.name = name
        self.db = f"e2e_{os.getpid()}_{name}"[:60]
        self.prefix = f"e2e-{os.getpid()}-{name}"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        server_url = os.environ["DATABASE_URL"]
        self.database_url = server_url.rsplit("/", 1)[0] + "/" + self.db
        subprocess.run(["psql", "-q", server_url, "-c", f"create database {self.db}"], check=True)
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "BOXOFFICE_HTTP_ADDR": f"127.0.0.1:{self.port}",
            "BOXOFFICE_REDIS_PREFIX": self.prefix,
            # A busy test machine can stall a commit for a second or two; this run checks
            # the page, not latency bounds.
            "BOXOFFICE_DB_TIMEOUT_MS": "15000",
            "RUST_LOG": os.environ.get("E2E_LOG", "warn"),
            **(env or {}),
        }
        self.log = open(OUT / f"{name}.service.log", "w")
        self.process = subprocess.Popen([BINARY, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_ready()
        self.admin = self.cli("admin-token").strip()

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"boxoffice exited; see {self.log.name}")
            try:
                urllib.request.urlopen(self.base + "/readyz", timeout=2).read()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise TimeoutError(f"boxoffice never became ready; see {self.log.name}")

    def cli(self, *args):
        return subprocess.run([BINARY, *args], env=self.env, check=True, capture_output=True, text=True).stdout

    def diagnosis(self, lines=60):
        """Its readiness (backend, breaker) and the last lines of its log, for a failure report."""
        try:
            ready = json.dumps(self.api("GET", "/readyz"))
        except Exception as error:  # noqa: BLE001 - any answer, or none, is the diagnosis
            ready = f"no answer: {error}"
        self.log.flush()
        text = re.sub(r"\x1b\[[0-9;]*m", "", Path(self.log.name).read_text(errors="replace"))
        tail = text.splitlines()[-lines:]
        return "\n".join([f"/readyz: {ready}", f"{self.log.name}, last {len(tail)} lines:", *tail])

    def stop(self):
        # Graceful shutdown waits for open event streams; that is not what these tests check.
        self.process.terminate()
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        server_url = os.environ["DATABASE_URL"]
        subprocess.run(["psql", "-q", server_url, "-c", f"drop database if exists {self.db}"], capture_output=True)
        for node in os.environ.get("REDIS_CLUSTER_NODES", "").split(","):
            port = node.rsplit(":", 1)[-1]
            keys = subprocess.run(
                ["redis-cli", "-p", port, "--scan", "--pattern", f"{self.prefix}:*"], capture_output=True, text=True
            ).stdout.split()
            for at in range(0, len(keys), 200):
                subprocess.run(["redis-cli", "-p", port, "del", *keys[at : at + 200]], capture_output=True)

    def api(self, method, path, token=None, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                text = response.read().decode()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode()) from None

    def new_show(self, title="The Test Tour", rows=4, seats_per_row=10, **queue):
        """A concert with one show of two priced sections, its queue set as given."""
        concert = self.api("POST", "/v1/admin/concerts", self.admin, {"title": title})["id"]
        starts = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0).isoformat()
        sections = [
            {"name": "Floor", "rows": rows, "seats_per_row": seats_per_row, "price": 120},
            {"name": "Balcony", "rows": 2, "seats_per_row": seats_per_row, "price": 45.5},
        ]
        show = self.api("POST", f"/v1/admin/concerts/{concert}/shows", self.admin, {"starts_at": starts, "sections": sections})
        if queue:
            self.configure(show["id"], **queue)
        return show["id"]

    def configure(self, show, **queue):
        return self.api("PUT", f"/v1/admin/shows/{show}/queue", self.admin, queue)

    def stats(self, show):
        return self.api("GET", f"/v1/admin/shows/{show}/queue/stats", self.admin)

    def seats(self, show, queue_token):
        return self.api("GET", f"/v1/shows/{show}/seats", queue_token)["seats"]

    def fan_by_api(self, show):
        """A fan outside the browser: joins and returns the queue token."""
        user = self.api("POST", "/v1/tokens", body={})["token"]
        return self.api("POST", f"/v1/shows/{show}/queue", user, {})["queue_token"]

    def wait_until(self, what, check, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}")

    def backend(self, mode):
        """Pins the deployment's backend (`postgres`, `redis` or `auto`) and waits for it."""
        self.cli("backend", mode)
        if mode != "auto":
            self.wait_until(f"the backend {mode}", lambda: self.api("GET", "/readyz")["backend"] == mode)


class StreamCutter:
    """A TCP proxy in front of a service that can cut its event streams, as a load balancer
    with a short idle timeout or a flaky mobile network does: `cut()` closes every
    connection that carried a stream request, and while `refusing` a stream request closes
    its connection at once. Everything else passes through untouched."""

    STREAM = re.compile(rb"GET /v1/shows/\d+/(queue|seats)/events")

    def __init__(self, port):
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.streaming = set()
        self.refusing = False
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pump, args=(client, upstream), daemon=True).start()

    def pump(self, client, upstream):
        pair = {client: upstream, upstream: client}
        try:
            while True:
                ready, _, _ = select.select(list(pair), [], [], 1.0)
                if client.fileno() < 0:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client and self.STREAM.search(data):
                        if self.refusing:
                            return
                        with self.lock:
                            self.streaming.add(client)
                    pair[sock].sendall(data)
        except OSError:
            return
        finally:
            with self.lock:
                self.streaming.discard(client)
            for sock in pair:
                sock.close()

    def cut(self):
        """Closes every open stream's connection; returns how many."""
        with self.lock:
            cut = list(self.streaming)
        for sock in cut:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(cut)

    def close(self):
        self.listener.close()


class Fan:
    """One person in one browser (a Playwright context of its own)."""

    def __init__(self, context, folder, name):
        self.context = context
        self.folder = folder
        self.name = name
        self.page = context.new_page()
        self.errors = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self.console)
        self.shots = 0

    def console(self, message):
        # A refused or cut request is the browser's report of what a test did to it; the
        # page's own errors are what count.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def shot(self, step):
        self.shots += 1
        path = self.folder / f"{self.name}-{self.shots:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def check_accessibility(self, step):
        """axe-core on the page as it is now: no serious or critical violation."""
        results = Axe().run(self.page)
        serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
        report = "; ".join(f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in serious)
        assert not serious, f"{self.name} at {step}: {report}"

    def saved(self, key):
        text = self.page.evaluate(f"localStorage.getItem('boxoffice.{key}')")
        return json.loads(text) if text else None

    def user_id(self):
        return self.saved("user")["user_id"]

    def queue_claims(self, show):
        token = self.saved(f"queue.{show}")["token"]
        payload = token.split(".")[1]
        return json.loads(base64url(payload))


def base64url(text):
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def folder(request):
    path = OUT / re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("*.png"):
        old.unlink()
    return path


@pytest.fixture
def service(request):
    """The service for this test; `@pytest.mark.service_env(NAME=value)` adds settings."""
    marker = request.node.get_closest_marker("service_env")
    name = f"{request.node.name[:20]}_{uuid.uuid4().hex[:6]}".lower()
    running = Service(re.sub(r"[^a-z0-9_]+", "_", name), marker.kwargs if marker else None)
    yield running
    running.stop()


@pytest.fixture
def fans(browser, folder, service):
    """`fans("ana")` opens a new browser context for one more fan at the service's page."""
    contexts = []

    def open_fan(name, viewport=DESKTOP, base=None):
        context = browser.new_context(viewport=viewport, base_url=base or service.base)
        context.set_default_timeout(30000)
        contexts.append(context)
        return Fan(context, folder, name)

    yield open_fan
    for context in contexts:
        context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries what its service saw: readiness and its log's tail."""
    outcome = yield
    report = outcome.get_result()
    service = item.funcargs.get("service") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and isinstance(service, Service):
        report.sections.append(("the service when the test failed", service.diagnosis()))


def pytest_configure(config):
    OUT.mkdir(parents=True, exist_ok=True)
    config.addinivalue_line("markers", "service_env(**env): settings for the test's boxoffice")
