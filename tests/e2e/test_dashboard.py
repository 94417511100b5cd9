"""The Grafana dashboard against a real Prometheus (Debian's, unpacked by scripts/e2e.sh):
every query of every panel runs, and the sale a fan just made shows on it."""

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from conftest import OUT, ROOT, free_port
from test_fan_journey import active_by_api

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "boxoffice.json"
PROMETHEUS = Path(os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus"))
PROMTOOL = PROMETHEUS.with_name("promtool")


def queries():
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


class Prometheus:
    def __init__(self, folder, target_port):
        self.port = free_port()
        config = folder / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: boxoffice\n    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n"
        )
        self.log = open(OUT / "prometheus.log", "w")
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, expr):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())

    def wait_for(self, expr, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.query(expr).get("data", {}).get("result"):
                    return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"prometheus never had {expr}")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


def test_the_compose_prometheus_config_is_valid():
    subprocess.run([PROMTOOL, "check", "config", str(ROOT / "deploy" / "prometheus.yml")], check=True, capture_output=True)


def test_every_dashboard_query_runs_in_prometheus_and_a_sale_shows_on_it(service, tmp_path):
    show = service.new_show(max_active=5, admit_per_second=50)
    buyer = active_by_api(service, show)
    seat = service.seats(show, buyer)[0]["id"]
    service.api("POST", f"/v1/shows/{show}/holds", buyer, {"seat_ids": [seat]})
    service.api("POST", f"/v1/shows/{show}/reservations", buyer, {"seat_ids": [seat]})
    prometheus = Prometheus(tmp_path, service.port)
    try:
        # Two scrapes after the sale, so that every rate() has its two samples.
        prometheus.wait_for("count_over_time(boxoffice_reservations_total[1m]) >= 2")
        for title, expr in queries():
            answer = prometheus.query(expr)
            assert answer["status"] == "success", f"{title}: {expr}: {answer}"
        for title, expr in queries():
            if title in ("Joins per second", "Holds and purchases per second", "p99 latency by route",
                         "Answers by status", "Backend serving users", "Redis circuit breaker"):
                assert prometheus.query(expr)["data"]["result"], f"{title} shows nothing: {expr}"
    finally:
        prometheus.stop()
