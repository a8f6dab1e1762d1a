"""Prometheus metrics for `GET /metrics`, read from the hub's memory at scrape time by one
collector: nothing in the loop counts for Prometheus on its own.

Gauges come from the view (tasks by state, queue depth per lane, agents by state), the
gatekeeper's records (pull requests waiting for a human) and its service (reviews queued).
Counters (the gatekeeper's decisions among them) and the assignment latency histogram come from
the ledger, so they start again at zero when the hub restarts, which Prometheus's `rate()` and
`increase()` expect of a counter.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from coordinator.core.agent import AgentState
from coordinator.core.ledger import LATENCY_BUCKETS
from coordinator.core.reviewrecord import ACTIONS, HUMAN_ACTIONS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HubCollector:
    """Turns one `Hub.metrics_view()` into metric families."""

    def __init__(self, hub, gatekeeper=lambda: None):
        self.hub, self.gatekeeper = hub, gatekeeper   # gatekeeper(): the running GatekeeperService, or None

    def collect(self):
        m = self.hub.metrics_view()
        tasks = GaugeMetricFamily("agentcom_tasks", "Tasks by state (rejected: files kept in rejected/).",
                                  labels=["state"])
        for state, n in m["counts"].items():
            tasks.add_metric([state], n)
        yield tasks
        depth = GaugeMetricFamily("agentcom_queue_depth", "Queued tasks per priority lane.", labels=["lane"])
        for lane, n in m["lanes"].items():
            depth.add_metric([lane], n)
        yield depth
        agents = GaugeMetricFamily("agentcom_agents", "Registered agents by state.", labels=["state"])
        for state in AgentState:
            agents.add_metric([state.value], m["agents"].get(state.value, 0))
        yield agents
        yield GaugeMetricFamily("agentcom_config_valid", "1 when agentcom.yaml is valid, 0 when the hub "
                                "runs on its last good settings.", value=1 if m["config_ok"] else 0)
        counts, total = m["latency"]
        running, buckets = 0, []
        for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts, strict=True):
            running += n
            buckets.append((bound, running))
        yield HistogramMetricFamily("agentcom_assignment_latency_seconds", "Time from queued to assigned.",
                                    buckets=buckets, sum_value=total)
        yield _counter("agentcom_failures", "Attempts that ended without success, by outcome kind.",
                       "kind", m["failures"])
        yield _counter("agentcom_retries", "Tasks queued again: automatic (after a failed attempt) "
                       "or human (retry of a dead or cancelled task).", "how", m["retries"],
                       ("automatic", "human"))
        yield _counter("agentcom_finished", "Tasks that reached done, dead or cancelled.", "state",
                       m["finished"], ("done", "dead", "cancelled"))
        yield _counter("agentcom_tokens", "Tokens agents reported, by agent.", "agent", m["tokens_by_agent"])
        yield _counter("agentcom_tokens_by_model", "Tokens agents reported, by model.", "model",
                       m["tokens_by_model"])
        yield _counter("agentcom_gatekeeper_decisions", "The gatekeeper's decisions on a pull request's head, "
                       "by action.", "action", m["decisions"], ACTIONS)
        waiting = GaugeMetricFamily("agentcom_prs_awaiting_human", "Open pull requests the gatekeeper left to a "
                                    "human, by its action.", labels=["action"])
        for action in HUMAN_ACTIONS:
            waiting.add_metric([action], m["awaiting_human"].get(action, 0))
        yield waiting
        service = self.gatekeeper()
        yield GaugeMetricFamily("agentcom_gatekeeper_queue", "Reviews asked of the gatekeeper (by webhooks, "
                                "humans or the poll) and not yet begun; 0 with no gatekeeper.",
                                value=service.queued if service is not None else 0)


def _counter(name: str, doc: str, label: str, values: dict, always: tuple = ()) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key in sorted(set(values) | set(always)):
        family.add_metric([key], values.get(key, 0))
    return family


def registry_for(hub, gatekeeper=lambda: None) -> CollectorRegistry:
    """A registry of its own per app, so two hubs in one process never share metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub, gatekeeper))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
