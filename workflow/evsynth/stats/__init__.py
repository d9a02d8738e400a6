"""evsynth.stats: the meta-analysis engine (metafor's escalc -> rma -> leave1out/cumulative/subgroups flow).

It imports nothing from the rest of the package. The public API is importable from here."""

from evsynth.stats.conversions import change_sd, mean_sd_from_quantiles, sd_from_ci, sd_from_se
from evsynth.stats.effects import backtransform, escalc
from evsynth.stats.glmm import pool_proportions_glmm
from evsynth.stats.meta import (
    RMAResult, cumulative, leave1out, ranktest, regtest, rma, rma_many, subgroup_analysis,
)

__all__ = [
    "RMAResult", "backtransform", "change_sd", "cumulative", "escalc", "leave1out", "mean_sd_from_quantiles",
    "pool_proportions_glmm", "ranktest", "regtest", "rma", "rma_many", "sd_from_ci", "sd_from_se",
    "subgroup_analysis",
]
