"""The routing agent (ADR 039): reads the route requests of ``<app_id>-route-requests`` (one partition, so one agent
in the group sees every request, in one order), assigns an owner with :func:`scoring.routing.route` and sends
``LeadRouted`` on ``lead-routes`` (key = lead id); a lead no route takes is a dead letter (``UnroutedLeadError``).

Its state is a changelog-backed table of its own, ``route-state`` (one partition, beside the request topic's):
``route/<model>/<route>`` holds a route's rotation and capacity counts, ``lead/<model>/<lead>`` a lead's
decisions and holders, MessagePack. Per request: outputs sent and acknowledged first, then the lead's entry, then
the routes' (a crash in between re-delivers the request: the old state gives the same decision, a lead entry
already written gives the remembered one). At least once in both processing guarantees, with deterministic
``routing_id``\\ s: consumers drop duplicates by id.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import msgspec
from faust.types import AgentT, AppT, StreamT, TableT, TopicT

from scoring import Engine, LeadscoreError, ScoringModel
from scoring.routing import Action, LeadRouting, Routed, RouteRequest, RouteState, decode_request, route
from streams.errors import DecodeError
from streams.kafka.codec import AvroCodec
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor
from streams.worker.results import event_message
from streams.worker.wiring import InputTopics, SendTopics

ROUTE_TABLE = "route-state"
RouteTable = TableT[str, bytes]
_LEAD = msgspec.msgpack.Decoder(LeadRouting)
_ROUTE = msgspec.msgpack.Decoder(RouteState)
_ENCODER = msgspec.msgpack.Encoder()


class UnroutedLeadError(LeadscoreError):
    """A lead entered a level that has routes, but no route's condition matched it, or every owner of the route
    it matched (and of the level's fallback) was at capacity for the period.

    Add a route without ``when`` for that level (the fallback) or raise ``capacity``, let the worker reload the
    model, then send the dead letter's value back to ``<app_id>-route-requests`` (an unrouted request is not
    remembered: it is routed anew)."""


def route_table(app: AppT) -> RouteTable:
    """The routing state table (changelog ``<app id>-route-state-changelog``, one partition)."""
    return app.Table(
        ROUTE_TABLE,
        default=None,
        value_type=bytes,  # raw: MessagePack of scoring.routing's Structs
        partitions=1,
        help="Routing state: per route (rotation, capacity counts) and per routed lead (decisions, holders).",
    )


def route_key(model_id: str, route_id: str) -> str:
    return f"route/{model_id}/{route_id}"


def lead_key(model_id: str, lead_id: str) -> str:
    return f"lead/{model_id}/{lead_id}"


@dataclass
class Router:
    """Decides one route request at a time against the table, and sends and writes what it decided."""

    processor: Processor  # its engine: the models now (a reload swaps it); its dead letters
    codec: AvroCodec
    table: RouteTable
    metrics: Metrics
    lead_routes: TopicT
    dead_letters: TopicT | None

    def decide(self, message: Message) -> tuple[Routed, bytes | None]:
        """The decision for one request and what to send (a LeadRouted, a dead letter, or None: nothing)."""
        try:
            request = self._request(message.value)
            model = _model(self.processor.engine, request)
        except LeadscoreError as exc:
            return Routed(None), self.processor.dead_letter(message, exc)
        states = {r.id: self._route_state(model.id, r.id) for r in model.routing if r.level == request.level}
        routed = route(model, {k: v for k, v in states.items() if v is not None}, self._lead(request), request)
        decision = routed.decision
        if decision is None:
            return routed, None
        self.metrics.leads_routed.labels(model.id, decision.route_id or "none", decision.action.value).inc()
        if decision.action is Action.UNROUTED:
            return routed, self.processor.dead_letter(message, UnroutedLeadError(_unrouted(decision.reason, request)))
        return routed, self.codec.encode_routed(decision)

    async def handle(self, message: Message) -> None:
        if self._forget(message.value):
            return
        routed, sent = self.decide(message)
        decision = routed.decision
        if sent is not None:
            to = self.dead_letters if decision is None or decision.action is Action.UNROUTED else self.lead_routes
            if to is not None:
                await _send_acknowledged(to, message.key, sent)  # before the state is written
        if decision is None:
            return
        request = decision.request
        if routed.lead is not None:
            self.table[lead_key(request.model_id, request.lead_id)] = _ENCODER.encode(routed.lead)
        for route_id, state in routed.states.items():
            self.table[route_key(request.model_id, route_id)] = _ENCODER.encode(state)

    def _forget(self, value: bytes | None) -> bool:
        """An erased lead's request (``erase``): its entry goes from the table. True when it was one."""
        try:
            request = decode_request(value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError):
            return False  # not a request: :meth:`decide` dead-letters it
        if not request.erase:
            return False
        key = lead_key(request.model_id, request.lead_id)
        if self.table.get(key) is not None:
            del self.table[key]
        return True

    def _request(self, value: bytes | None) -> RouteRequest:
        try:
            return decode_request(value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"not a route request: {exc}") from None

    def _route_state(self, model_id: str, route_id: str) -> RouteState | None:
        value = self.table.get(route_key(model_id, route_id))
        return None if value is None else _ROUTE.decode(value)

    def _lead(self, request: RouteRequest) -> LeadRouting | None:
        value = self.table.get(lead_key(request.model_id, request.lead_id))
        return None if value is None else _LEAD.decode(value)


def _model(engine: Engine, request: RouteRequest) -> ScoringModel:
    model = next((m for m in engine.models if m.id == request.model_id), None)
    if model is None or not model.routing:
        raise UnroutedLeadError(
            f"model {request.model_id!r} (lead {request.lead_id!r}, crossing {request.crossing_id}) is no longer "
            f"run, or has no routing: section"
        )
    return model


def _unrouted(reason: str, request: RouteRequest) -> str:
    return f"{reason} (lead {request.lead_id!r} entering {request.level}, crossing {request.crossing_id})"


def register_routing(app: AppT, topic: TopicT, router: Router) -> AgentT[bytes]:
    """The ``route-leads`` agent on ``topic`` (the route requests)."""

    @app.agent(topic, name="route-leads")
    async def route_leads(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await router.handle(event_message(event))

    return route_leads


def install_routing(
    app: AppT, inputs: InputTopics, outputs: SendTopics, processor: Processor, codec: AvroCodec, metrics: Metrics
) -> tuple[AgentT[bytes] | None, RouteTable | None]:
    """The routing agent and its table; ``(None, None)`` for a worker that routes nothing (a shadow worker)."""
    if inputs.route_requests is None or outputs.lead_routes is None:
        return None, None
    table = route_table(app)
    router = Router(processor, codec, table, metrics, outputs.lead_routes, outputs.dead_letters)
    return register_routing(app, inputs.route_requests, router), table


async def _send_acknowledged(topic: TopicT, key: bytes | None, value: bytes) -> None:
    delivery: object = await topic.send(key=key, value=value)
    if inspect.isawaitable(delivery):  # Faust's future of the broker's acknowledgement (a test's recorder: None)
        await delivery
