"""Prometheus metrics, one registry per app (several apps in one test process must not clash)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kbassist.search import Searcher

# Agents wait on these: most of the resolution is where a search should land (a few ms to ~100 ms).
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)
_STAGE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 1.0)


class _IndexCollector(Collector):
    """Reads the serving index at scrape time, so a hot swap shows without anyone updating a gauge."""

    def __init__(self, current: Callable[[], Searcher | None]):
        self.current = current

    def collect(self) -> Iterator[Metric]:
        searcher = self.current()
        info = GaugeMetricFamily("kbassist_index_info", "The index version being served (value 1).", labels=["version"])
        entries = GaugeMetricFamily("kbassist_index_entries", "Entries in the served index, by kind.", labels=["kind"])
        loaded = GaugeMetricFamily("kbassist_index_loaded", "1 when an index is loaded and serving.")
        loaded.add_metric([], 1.0 if searcher else 0.0)
        if searcher is not None:
            info.add_metric([searcher.version], 1.0)
            counts: dict[str, int] = {}
            for entry in searcher.entries:
                counts[entry.kind.value] = counts.get(entry.kind.value, 0) + 1
            for kind, count in sorted(counts.items()):
                entries.add_metric([kind], float(count))
        yield loaded
        yield info
        yield entries


class Metrics:
    def __init__(self, current_searcher: Callable[[], Searcher | None]):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kbassist_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kbassist_http_request_duration_seconds",
            "Time from request to the end of the response, by route template.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stages = Histogram(
            "kbassist_search_stage_seconds",
            "Time spent in each search stage (analyze, bm25, embed, faiss, fuse, scripts, total).",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.outcomes = Counter(
            "kbassist_searches",
            "Searches by outcome: exact_match, answered, no_good_answer.",
            ["outcome"],
            registry=self.registry,
        )
        self.log_failures = Counter(
            "kbassist_query_log_failures",
            "Searches or feedback that could not be written to the query log.",
            registry=self.registry,
        )
        self.reloads = Counter(
            "kbassist_index_reloads",
            "Index reloads by trigger (api, poll) and outcome (swapped, unchanged, failed).",
            ["trigger", "outcome"],
            registry=self.registry,
        )
        self.registry.register(_IndexCollector(current_searcher))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def observe_search(self, timings: Mapping[str, float], exact_match: bool, no_good_answer: bool) -> None:
        for stage, ms in timings.items():
            self.stages.labels(stage).observe(ms / 1000)
        outcome = "no_good_answer" if no_good_answer else "exact_match" if exact_match else "answered"
        self.outcomes.labels(outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
