# Reference numbers for evsynth.stats.trimfill, computed by R metafor's trimfill() on rma.uni fits.
# Rerun: Rscript tests/r/make_trimfill_fixture.R   (needs Debian's r-cran-metafor and r-cran-jsonlite)
# Writes tests/fixtures/metafor_trimfill.json: per case the yi/vi, the call, and metafor's k0, se.k0, side,
# and the refitted model (estimate, se, ci, tau2, q, k).
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
set.seed(20261202)
# dat.bcg (metadat), typed in so the script does not depend on the data package's version
tpos <- c(4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27)
tneg <- c(119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886)
cpos <- c(11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29)
cneg <- c(128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg)
datasets <- list(bcg = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi)))
for (i in 1:12) {
  k <- sample(10:30, 1)
  vi <- exp(runif(k, log(0.01), log(1)))
  tau2 <- sample(c(0, 0.05, 0.3), 1)
  yi <- rnorm(k, 0.3, sqrt(vi + tau2))
  # suppress some small, non-significant studies on one side so that trim-and-fill has work to do
  drop <- (yi / sqrt(vi) < 1) & (vi > quantile(vi, 0.5)) & (runif(k) < 0.7)
  if (sum(!drop) >= 10) { yi <- yi[!drop]; vi <- vi[!drop] }
  if (i %% 2 == 0) yi <- -yi
  datasets[[sprintf("random%02d", i)]] <- list(yi = yi, vi = vi)
}
cases <- list()
for (name in names(datasets)) {
  d <- datasets[[name]]
  for (method in c("FE", "DL", "REML")) for (estimator in c("L0", "R0", "Q0")) for (side in c("auto", "left", "right")) {
    fit <- rma(d$yi, d$vi, method = method, control = list(threshold = 1e-12, maxiter = 1000))
    # trimfill() refits with metafor's default control (REML stops at a change of 1e-5): compare REML loosely
    tf <- tryCatch(if (side == "auto") trimfill(fit, estimator = estimator)
                   else trimfill(fit, side = side, estimator = estimator),
                   error = function(e) conditionMessage(e))
    case <- list(dataset = name, method = method, estimator = estimator, side_arg = side)
    if (is.character(tf)) {
      case$error <- tf
    } else {
      case <- c(case, list(k0 = tf$k0, se_k0 = tf$se.k0, side = tf$side, k = tf$k, estimate = as.numeric(tf$beta),
                           se = tf$se, ci_lb = tf$ci.lb, ci_ub = tf$ci.ub, tau2 = tf$tau2, q = tf$QE))
    }
    cases[[length(cases) + 1]] <- case
  }
}
out <- list(info = list(metafor_version = as.character(packageVersion("metafor")), R_version = R.version.string),
            datasets = datasets, cases = cases)
write_json(out, "tests/fixtures/metafor_trimfill.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
