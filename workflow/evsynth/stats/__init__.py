"""evsynth.stats: the meta-analysis engine (metafor's escalc -> rma -> leave1out/cumulative/subgroups flow).

One module per method or concern, as metafor splits its R files: effects (escalc), conversions,
options (argument vocabulary), linalg (batched linear algebra, Q), tau2 (estimators), fit (the
batched engine), rma (the single fit and RMAResult), predict (new moderator values), batch
(rma_many), leave1out, cumulative, subgroups, influence (influence, baujat), bias_tests (regtest,
ranktest), permutest (permutation tests), rma_mh (Mantel-Haenszel), rma_peto (Peto's OR), glmm.

It imports nothing from the rest of the package. The public API is importable from here."""

from evsynth.stats.batch import rma_many
from evsynth.stats.bias_tests import BiasTestResult, ranktest, regtest
from evsynth.stats.conversions import change_sd, mean_sd_from_quantiles, sd_from_ci, sd_from_se
from evsynth.stats.cumulative import cumulative
from evsynth.stats.effects import backtransform, escalc
from evsynth.stats.glmm import pool_proportions_glmm
from evsynth.stats.influence import baujat, influence
from evsynth.stats.leave1out import leave1out
from evsynth.stats.options import METHODS, TESTS
from evsynth.stats.permutest import PermutationTestResult, permutest
from evsynth.stats.predict import predict
from evsynth.stats.rma import RMAResult, rma
from evsynth.stats.rma_mh import FixedEffectsResult, rma_mh
from evsynth.stats.rma_peto import rma_peto
from evsynth.stats.subgroups import SubgroupResult, subgroup_analysis

__all__ = [
    "BiasTestResult", "FixedEffectsResult", "METHODS", "PermutationTestResult", "RMAResult",
    "SubgroupResult", "TESTS", "backtransform", "baujat", "change_sd", "cumulative", "escalc",
    "influence", "leave1out", "mean_sd_from_quantiles", "permutest", "pool_proportions_glmm",
    "predict", "ranktest", "regtest", "rma",
    "rma_many", "rma_mh", "rma_peto", "sd_from_ci", "sd_from_se", "subgroup_analysis",
]
