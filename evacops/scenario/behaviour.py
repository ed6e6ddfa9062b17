"""What the simulator adds to a scenario: the uncertainty it draws (:class:`Uncertainty`) and how
crowds behave at the gates (:class:`Crowd`); the planner ignores the first and uses the second
only for its reports (docs/simulation.md)."""

from __future__ import annotations

from pydantic import Field

from evacops.scenario.fields import NonNegFloat, PositiveFloat, Probability
from evacops.scenario.fields import StrictModel as _Model


class Uncertainty(_Model):
    """What the simulator (``evacops simulate``) draws at random; the planner ignores it.

    Every field has a default, so a scenario without this block is simulated with moderate
    randomness; all zeros (and ``divert_when_staging_full: false``) switch it off. See
    docs/simulation.md for how each draw is used.
    """

    surge_probability_per_h: Probability = Field(
        default=0.02,
        description="chance that a surge of uncalled people starts at a gate in an hour",
    )
    surge_size_h: NonNegFloat = Field(
        default=1.0,
        description="mean size of a surge in hours of the gate's screening rate "
        "(exponentially distributed)",
    )
    screening_cv: NonNegFloat = Field(
        default=0.2,
        description="coefficient of variation of a gate's screening in a period "
        "(lognormal, mean = the processing rate)",
    )
    incidents_per_gate_per_day: NonNegFloat = Field(
        default=0.1, description="rate of incidents that close a gate (Poisson, per gate)"
    )
    incident_mean_h: NonNegFloat = Field(
        default=2.0, description="mean duration of an incident closure (exponential)"
    )
    incident_density_factor: NonNegFloat = Field(
        default=0.5,
        description="each person/m2 the crowd before a gate stands above the safe density "
        "raises the gate's chance of an incident by this share of the base chance "
        "(assumption: a dense crowd pushes, faints, is fired over)",
    )
    surge_attraction: Probability = Field(
        default=1.0,
        description="how much a gate's surge chance follows what it lets through now: 1 = in "
        "proportion to its screening rate this period against its nominal rate (a gate that "
        "lets people in draws more, a closed one none), 0 = not at all",
    )
    gate_switch_share: Probability = Field(
        default=0.5,
        description="of the crowd before a closed gate, the share that walks to the other open "
        "gates its cohort may use within the period; the rest go back to their assembly point "
        "(and come back when called or in a surge)",
    )
    give_up_share_per_h: Probability = Field(
        default=0.05,
        description="share of a crowd pressed past the onset density that gives up each hour "
        "and goes back to its assembly point",
    )
    day_cv: NonNegFloat = Field(
        default=0.15,
        description="coefficient of variation of a day factor shared by every gate "
        "(lognormal, mean 1): a bad day is bad at every gate, its screening slower and its "
        "incidents likelier in the same proportion",
    )
    refusal_share: Probability = Field(
        default=0.0,
        description="share of the people a gate screens that it turns away (no papers, the "
        "wrong papers); they used the lane's time all the same",
    )
    requeue_share: Probability = Field(
        default=0.5,
        description="of the people turned away at a gate, the share who queue there again "
        "after requeue_delay_h (papers fetched, a sponsor called); the rest give up for good",
    )
    requeue_delay_h: NonNegFloat = Field(
        default=12.0, description="hours before people turned away at a gate queue again"
    )
    block_time_cv: NonNegFloat = Field(
        default=0.05, description="coefficient of variation of a sortie's block time (lognormal)"
    )
    ground_time_cv: NonNegFloat = Field(
        default=0.25, description="coefficient of variation of a ground time (lognormal)"
    )
    abort_probability: Probability = Field(
        default=0.01, description="chance that a sortie aborts at departure"
    )
    divert_when_staging_full: bool = Field(
        default=False,
        description="a flight bound for a full staging base goes to another "
        "staging base its fleet flies to, instead of waiting",
    )

    @classmethod
    def off(cls) -> Uncertainty:
        """No randomness at all: a replay of the plan or of the dispatch policy."""
        return cls(
            surge_probability_per_h=0,
            surge_size_h=0,
            screening_cv=0,
            incidents_per_gate_per_day=0,
            incident_mean_h=0,
            incident_density_factor=0,
            surge_attraction=0,
            gate_switch_share=0,
            give_up_share_per_h=0,
            day_cv=0,
            refusal_share=0,
            block_time_cv=0,
            ground_time_cv=0,
            abort_probability=0,
            divert_when_staging_full=False,
        )

    @property
    def is_off(self) -> bool:
        return (
            (self.surge_probability_per_h == 0 or self.surge_size_h == 0)
            and self.screening_cv == 0
            and (self.incidents_per_gate_per_day == 0 or self.incident_mean_h == 0)
            and self.day_cv == 0
            and self.refusal_share == 0
            and self.block_time_cv == 0
            and self.ground_time_cv == 0
            and self.abort_probability == 0
        )


class Crowd(_Model):
    """How crowds behave at the gates (evacops/network/crowd.py has the curves and sources)."""

    max_density_per_m2: PositiveFloat = Field(
        default=7.0,
        description="the physical maximum: people stand no closer than this; the rest queue "
        "along the approach (Fruin's critical level)",
    )
    free_speed_m_s: PositiveFloat = Field(
        default=1.34, description="walking speed of a loose crowd (Weidmann 1993)"
    )
    weidmann_gamma_per_m2: PositiveFloat = Field(
        default=1.913, description="shape of Weidmann's speed-density curve"
    )
    jam_density_per_m2: PositiveFloat = Field(
        default=5.4, description="density at which a walking crowd stops (Weidmann 1993)"
    )
    min_throughput_share: Probability = Field(
        default=0.25,
        description="share of its screening rate a jammed gate keeps (assumption)",
    )
