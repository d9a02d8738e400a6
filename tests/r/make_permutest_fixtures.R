#!/usr/bin/env Rscript
# Reference fixtures for evsynth.stats.permutest: exact permutation tests of metafor 3.8.1
# (permutest(res, exact = TRUE)) for meta-regressions (rows of X permuted) and intercept-only
# models (signs of yi flipped). Exact tests need no random numbers, so they compare number for
# number. Usage (repository root): Rscript tests/r/make_permutest_fixtures.R [output_dir]
# Writes metafor_permutest.json. Deterministic: set.seed(20261203) for the datasets.
suppressPackageStartupMessages({ library(metafor); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else file.path("tests", "fixtures")
set.seed(20261203)
TIGHT <- list(threshold = 1e-11, tol = 1e-12, maxiter = 5000)
num <- function(x) as.numeric(x)
cases <- list()
for (id in 1:14) {
  k <- sample(4:6, 1)
  vi <- runif(k, 0.02, 0.4)
  x1 <- if (id %% 3 == 0) sample(c(0, 1), k, TRUE) else round(rnorm(k), 2)  # ties in X
  yi <- 0.1 + 0.4 * x1 + rnorm(k, 0, sqrt(vi + 0.05))
  method <- c("REML", "DL", "FE")[(id %% 3) + 1]
  test <- if (id %% 2 == 0) "knha" else "z"
  mods <- id %% 4 != 1
  r <- if (mods) rma(yi, vi, mods = ~ x1, method = method, test = test, control = TIGHT)
       else rma(yi, vi, method = method, test = test, control = TIGHT)
  pt <- suppressWarnings(permutest(r, exact = TRUE))
  cases[[id]] <- list(id = id, yi = yi, vi = vi, x1 = x1, method = method, test = test, mods = mods,
                      pval = num(pt$pval), QMp = num(pt$QMp), iter = num(length(pt$QM.perm)))
}
info <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")), seed = 20261203)
writeLines(toJSON(list(info = info, cases = cases), digits = I(15), auto_unbox = TRUE, na = "null"),
           file.path(outdir, "metafor_permutest.json"))
