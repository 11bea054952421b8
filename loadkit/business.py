"""Orders and the value at risk, from measurement: purchases attempted, completed and lost per phase.

A scenario may name its order journey and an average order value (``business: {orders: buy, order_value:
42 EUR}``). Every completed visit of that journey is an order; every failed one is a purchase the site
lost (the visitor met an error, a refusal or a timeout and left). Visits still walking when the run ended
(cut short) are neither: they are counted apart. When the run sent a fraction of the moment (``rate_scale``
or ``--duration-scale``), each measured purchase stands for 1 / that fraction, and the arithmetic says so.
Nothing is estimated beyond what was measured and what the scenario states: no elasticities, no guesses at
how many visitors would have come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .journeys import JourneyFigures, JourneyResult
from .scenario import Business
from .traffic import Plan


@dataclass(frozen=True)
class OrderFigures:
    """Purchases over one stretch of the run (a phase, the moment, the probe), measured and scaled."""

    label: str  # "peak", "probe", "moment" (everything up to the planned peak and its decay)
    attempted: int  # visits of the order journey that finished or were cut short
    completed: int
    lost: int  # failed visits: the site lost the purchase
    cut_short: int
    scale: float  # real purchases per measured one (1 / the share of the moment the run sent)
    order_value: float | None
    currency: str

    @property
    def lost_real(self) -> float:
        """Purchases lost, scaled to the real audience."""
        return self.lost * self.scale

    @property
    def value_at_risk(self) -> float | None:
        """The order value of the purchases lost, scaled (None without an order value)."""
        return None if self.order_value is None else self.lost_real * self.order_value

    def arithmetic(self) -> str:
        """The sum behind the figure, in words: ``12 lost x 10 (the run sent 10% of the moment) = 120 orders
        x 42 EUR = 5,040 EUR``."""
        parts = [f"{self.lost:,} lost"]
        if self.scale != 1:
            parts.append(f" x {self.scale:.4g} (the run sent {100 / self.scale:.3g}% of the moment's visitors) = "
                         f"{_count(self.lost_real)} orders")
        if self.order_value is not None:
            at_risk = money(self.value_at_risk or 0.0, self.currency)
            parts.append(f" x {money(self.order_value, self.currency)} = {at_risk}")
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for summary.json."""
        return {"attempted": self.attempted, "completed": self.completed, "lost": self.lost,
                "cut_short": self.cut_short, "scale": round(self.scale, 6),
                "lost_scaled": round(self.lost_real, 3),
                "value_at_risk": None if self.value_at_risk is None else round(self.value_at_risk, 2),
                "arithmetic": self.arithmetic()}


@dataclass(frozen=True)
class Orders:
    """The order journey's purchases per phase and over the moment and the probe."""

    journey: str
    order_value: float | None
    currency: str
    scale: float
    phases: tuple[OrderFigures, ...]
    moment: OrderFigures  # everything before the headroom probe: what the planned moment would cost
    peak: OrderFigures | None  # the peak (a steps profile: its highest step)
    probe: OrderFigures | None  # the headroom probe: extra traffic beyond the plan, told apart

    def to_dict(self) -> dict[str, Any]:
        """summary.json's ``business`` object."""
        return {"orders_journey": self.journey, "order_value": self.order_value, "currency": self.currency,
                "scale": round(self.scale, 6), "moment": self.moment.to_dict(),
                "peak": self.peak.to_dict() if self.peak else None,
                "probe": self.probe.to_dict() if self.probe else None,
                "phases": {p.label: p.to_dict() for p in self.phases}}


def money(amount: float, currency: str) -> str:
    """``5,040 EUR``, ``€42.50``: whole amounts without cents."""
    text = f"{amount:,.0f}" if abs(amount - round(amount)) < 0.005 else f"{amount:,.2f}"
    if not currency:
        return text
    return f"{currency}{text}" if len(currency) == 1 and not currency.isalpha() else f"{text} {currency}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 0.05 else f"{value:,.1f}"


def _figures(label: str, f: JourneyFigures, scale: float, business: Business) -> OrderFigures:
    return OrderFigures(label=label, attempted=f.started, completed=f.completed, lost=f.failed,
                        cut_short=f.cut_short, scale=scale, order_value=business.amount, currency=business.currency)


def orders(business: Business | None, journeys: tuple[JourneyResult, ...], plan: Plan) -> Orders | None:
    """The purchases of the order journey, per phase and scaled to the real audience (None: no business
    block, or the run recorded no visit of its journey)."""
    if business is None:
        return None
    result = next((j for j in journeys if j.name == business.orders), None)
    if result is None:
        return None
    scale = 1.0 / plan.sample_share if plan.sample_share > 0 else 1.0
    phases = tuple(_figures(name, f, scale, business) for name, f in result.phases.items())
    moment = _figures("moment", result.scopes["run"], scale, business) if "run" in result.scopes else \
        _figures("moment", result.total, scale, business)
    probe = _figures("probe", result.scopes["probe"], scale, business) if "probe" in result.scopes else None
    peak = _figures("peak", result.scopes["peak"], scale, business) if "peak" in result.scopes else None
    return Orders(journey=business.orders, order_value=business.amount, currency=business.currency, scale=scale,
                  phases=phases, moment=moment, peak=peak, probe=probe)


def order_sentences(o: Orders) -> list[str]:
    """Plain sentences with the numbers: the moment, the peak, the probe, the value at risk."""
    m = o.moment
    out = []
    scaled = "" if o.scale == 1 else f" (measured; x{o.scale:.4g} for the real audience)"
    out.append(f"Purchases over the planned moment: {m.completed:,} of {m.attempted:,} completed, {m.lost:,} lost"
               + (f", {m.cut_short:,} still under way when the run ended" if m.cut_short else "") + f"{scaled}.")
    if m.lost:
        out.append(f"Orders lost over the moment: {m.arithmetic()}.")
    if o.probe is not None and o.probe.attempted:
        p = o.probe
        out.append(f"In the headroom probe (traffic beyond the plan), {p.lost:,} of {p.attempted:,} purchases were "
                   f"lost" + (f": {p.arithmetic()}" if p.lost and (p.scale != 1 or p.order_value) else "") + ".")
    return out


def journey_sentence(journeys: tuple[JourneyResult, ...], orders_journey: str | None) -> str:
    """The journeys at the peak (or up to it), the order journey first: "Journeys at the peak: 9 of 10 purchases
    completed; 40 of 40 browse visits completed"."""
    if not journeys:
        return ""
    at_peak = any("peak" in j.scopes and j.scopes["peak"].started for j in journeys)
    parts = []
    for j in sorted(journeys, key=lambda j: j.name != orders_journey):
        f = j.scopes.get("peak" if at_peak else "run", j.total)
        noun = "purchases" if j.name == orders_journey else f"{j.name} visits"
        parts.append(f"{f.completed:,} of {f.started:,} {noun} completed")
    return f"Journeys {'at the peak' if at_peak else 'up to the planned peak'}: " + "; ".join(parts) + "."


__all__ = ["OrderFigures", "Orders", "journey_sentence", "money", "order_sentences", "orders"]
