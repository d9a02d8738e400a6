#!/usr/bin/env Rscript
# Generate reference fixtures for evsynth.stats (rma, leave1out, cumulative, regtest, ranktest) from R/metafor.
#
# Numbers are written with 12 significant digits (comparisons are at 1e-6).
#
# Usage (from the repository root):
#   Rscript tests/r/make_metafor_fixtures.R [output_dir]      # default: tests/fixtures
#
# Writes:
#   metafor_rma.json         intercept-only rma() for every method x test, confint() and predict()
#   metafor_rma_extras.json  meta-regressions, leave1out(), cumul(), regtest(), ranktest()
#
# Every fit is run twice:
#   1. with metafor's default control, to record whether metafor converges (error message if not);
#   2. with tight control (threshold=1e-11, tol=1e-12, maxiter=5000) and
#      confint(control=list(tol=1e-12)), to record the numbers. metafor's defaults stop the
#      Fisher scoring at |change| <= 1e-5 and uniroot() at tol=eps^0.25 ~ 1.2e-4, which is too
#      loose to compare at 1e-6. If the tight fit fails, the default-control numbers are kept and
#      "tight" is FALSE for that fit.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else file.path("tests", "fixtures")
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)

set.seed(20261122)

TIGHT <- list(threshold = 1e-11, tol = 1e-12, maxiter = 5000)
METHODS <- c("FE", "DL", "REML", "ML", "PM", "HS", "SJ", "HE", "EB")
TESTS <- c("z", "knha", "adhoc")

num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(x)

# ---------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------

make_dataset <- function(id) {
  k <- sample(c(2, 2, 3, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30), 1)
  kind <- sample(c("moderate", "moderate", "extreme", "tau0", "equalv", "large"), 1)
  if (kind == "extreme") {
    vi <- 10^runif(k, -4, 2)                      # sampling variances from 1e-4 to 1e2
  } else if (kind == "equalv") {
    vi <- rep(round(runif(1, 0.02, 0.5), 3), k)    # ties in vi
  } else if (kind == "large") {
    vi <- runif(k, 1, 50)
  } else {
    vi <- runif(k, 0.01, 0.5)
  }
  tau2 <- if (kind == "tau0") 0 else sample(c(0, 0.02, 0.1, 0.5, 2), 1)
  mu <- rnorm(1, 0, 1)
  yi <- mu + rnorm(k, 0, sqrt(tau2)) + rnorm(k, 0, sqrt(vi))
  list(id = id, k = k, kind = kind, tau2_true = tau2, yi = yi, vi = vi)
}

N_DATA <- 220
datasets <- lapply(seq_len(N_DATA), make_dataset)

# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

fit_twice <- function(expr_default, expr_tight) {
  r0 <- tryCatch(suppressWarnings(expr_default()), error = function(e) e)
  if (inherits(r0, "error")) {
    return(list(ok = FALSE, error = conditionMessage(r0), res = NULL, tight = FALSE))
  }
  r1 <- tryCatch(suppressWarnings(expr_tight()), error = function(e) e)
  if (inherits(r1, "error")) {
    return(list(ok = TRUE, error = "", res = r0, tight = FALSE))
  }
  list(ok = TRUE, error = "", res = r1, tight = TRUE)
}

rma_fields <- function(res) {
  list(
    b = num(res$beta), se = num(res$se), zval = num(res$zval), pval = num(res$pval),
    ci_lb = num(res$ci.lb), ci_ub = num(res$ci.ub),
    tau2 = num(res$tau2), se_tau2 = num(res$se.tau2),
    I2 = num(res$I2), H2 = num(res$H2), QE = num(res$QE), QEp = num(res$QEp),
    QM = num(res$QM), QMp = num(res$QMp), QMdf = num(res$QMdf), ddf = num(res$ddf),
    R2 = num(res$R2), k = res$k, p = res$p
  )
}

one_rma <- function(d, method, test, mods = NULL) {
  args <- list(yi = d$yi, vi = d$vi, method = method, test = test)
  if (!is.null(mods)) args$mods <- mods   # metafor 3.8 rejects an explicit mods = NULL
  f <- fit_twice(
    function() do.call(rma, args),
    function() do.call(rma, c(args, list(control = TIGHT)))
  )
  out <- list(method = method, test = test, converged = f$ok, tight = f$tight)
  if (!f$ok) return(c(out, list(error = f$error)))
  res <- f$res
  out <- c(out, rma_fields(res))
  if (is.null(mods)) out$R2 <- out$QMdf <- out$p <- NULL  # not defined for intercept-only models
  if (is.null(mods)) {
    pr <- predict(res)
    out$pi_lb <- num(pr$pi.lb)
    out$pi_ub <- num(pr$pi.ub)
  }
  if (method != "FE" && test == "z" && res$k > 1) {
    ci <- tryCatch(suppressWarnings(confint(res, control = list(tol = 1e-12))), error = function(e) e)
    if (inherits(ci, "error")) {
      out$confint_error <- conditionMessage(ci)
    } else {
      out$tau2_ci <- num(ci$random["tau^2", c("ci.lb", "ci.ub")])
      out$I2_ci <- num(ci$random["I^2(%)", c("ci.lb", "ci.ub")])
      out$H2_ci <- num(ci$random["H^2", c("ci.lb", "ci.ub")])
      out$ci_null <- isTRUE(ci$ci.null)
      out$lb_sign <- ci$lb.sign
      out$ub_sign <- ci$ub.sign
    }
  }
  out
}

# ---------------------------------------------------------------------------------------
# 1. intercept-only models: every method x test
# ---------------------------------------------------------------------------------------

cases <- lapply(datasets, function(d) {
  fits <- list()
  for (m in METHODS) for (t in TESTS) fits[[length(fits) + 1]] <- one_rma(d, m, t)
  list(id = d$id, k = d$k, kind = d$kind, yi = d$yi, vi = d$vi, fits = fits)
})

meta_info <- list(
  R = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  jsonlite = as.character(packageVersion("jsonlite")),
  seed = 20261122,
  tight_control = TIGHT,
  confint_control = list(tol = 1e-12),
  generated_by = "tests/r/make_metafor_fixtures.R"
)

write_json(list(info = meta_info, cases = cases), file.path(outdir, "metafor_rma.json"),
           auto_unbox = TRUE, digits = I(12), null = "null", na = "null")

# ---------------------------------------------------------------------------------------
# 2. meta-regressions, leave1out, cumul, regtest, ranktest
# ---------------------------------------------------------------------------------------

big <- Filter(function(d) d$k >= 6, datasets)

metareg <- list()
for (d in big[seq_len(min(40, length(big)))]) {
  nmod <- sample(1:2, 1)
  X <- matrix(round(rnorm(d$k * nmod), 3), ncol = nmod)
  if (nmod == 2) X[, 2] <- rbinom(d$k, 1, 0.5)
  if (nmod == 2 && length(unique(X[, 2])) < 2) X[1:2, 2] <- c(0, 1)
  yi <- d$yi + 0.3 * X[, 1]
  dd <- list(yi = yi, vi = d$vi)
  fits <- list()
  for (m in c("FE", "DL", "REML", "ML", "PM")) for (t in c("z", "knha")) {
    fits[[length(fits) + 1]] <- one_rma(dd, m, t, mods = X)
  }
  metareg[[length(metareg) + 1]] <- list(id = d$id, yi = yi, vi = d$vi, mods = X, fits = fits)
}

l1o <- list()
for (d in Filter(function(d) d$k >= 3 && d$k <= 15, datasets)[1:30]) {
  for (spec in list(c("REML", "z"), c("DL", "knha"))) {
    r <- tryCatch(suppressWarnings(rma(d$yi, d$vi, method = spec[1], test = spec[2], control = TIGHT)),
                  error = function(e) e)
    if (inherits(r, "error")) next
    l <- tryCatch(suppressWarnings(leave1out(r)), error = function(e) e)
    if (inherits(l, "error")) next
    l <- as.data.frame(l)
    l1o[[length(l1o) + 1]] <- list(id = d$id, yi = d$yi, vi = d$vi, method = spec[1], test = spec[2],
                                   table = lapply(l, num))
  }
}

cum <- list()
for (d in Filter(function(d) d$k >= 4, datasets)[1:15]) {
  r <- tryCatch(suppressWarnings(rma(d$yi, d$vi, method = "REML", control = TIGHT)), error = function(e) e)
  if (inherits(r, "error")) next
  l <- tryCatch(suppressWarnings(cumul(r)), error = function(e) e)
  if (inherits(l, "error")) next
  l <- as.data.frame(l)
  cum[[length(cum) + 1]] <- list(id = d$id, yi = d$yi, vi = d$vi, method = "REML", test = "z",
                                 table = lapply(l[, intersect(names(l), c("estimate", "se", "zval", "pval", "ci.lb", "ci.ub", "Q", "Qp", "tau2", "I2", "H2"))], num))
}

reg <- list()
for (d in Filter(function(d) d$k >= 5, datasets)[1:40]) {
  for (model in c("rma", "lm")) {
    fit <- tryCatch(suppressWarnings(rma(d$yi, d$vi, method = "REML", control = TIGHT)), error = function(e) e)
    if (inherits(fit, "error")) next
    rt <- tryCatch(suppressWarnings(regtest(fit, model = model)), error = function(e) e)
    if (inherits(rt, "error")) {
      reg[[length(reg) + 1]] <- list(id = d$id, yi = d$yi, vi = d$vi, model = model, error = conditionMessage(rt))
      next
    }
    reg[[length(reg) + 1]] <- list(id = d$id, yi = d$yi, vi = d$vi, model = model, zval = num(rt$zval),
                                   pval = num(rt$pval), dfs = num(rt$dfs), est = num(rt$est),
                                   ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub))
  }
}

rank <- list()
for (d in Filter(function(d) d$k >= 3, datasets)[1:60]) {
  rt <- tryCatch(suppressWarnings(ranktest(d$yi, d$vi)), error = function(e) e)
  if (inherits(rt, "error")) next
  rank[[length(rank) + 1]] <- list(id = d$id, yi = d$yi, vi = d$vi, tau = num(rt$tau), pval = num(rt$pval))
}

# other confidence levels (CI, PI, and Q-profile CIs depend on it)
lev <- list()
for (d in Filter(function(d) d$k >= 3, datasets)[1:20]) {
  for (spec in list(list("REML", "z", 90), list("DL", "knha", 99), list("PM", "adhoc", 80))) {
    f <- fit_twice(
      function() rma(d$yi, d$vi, method = spec[[1]], test = spec[[2]], level = spec[[3]]),
      function() rma(d$yi, d$vi, method = spec[[1]], test = spec[[2]], level = spec[[3]], control = TIGHT)
    )
    out <- list(id = d$id, yi = d$yi, vi = d$vi, method = spec[[1]], test = spec[[2]], level = spec[[3]],
                converged = f$ok, error = f$error, tight = f$tight)
    if (f$ok) {
      out <- c(out, rma_fields(f$res))
      pr <- predict(f$res)
      out$pi_lb <- num(pr$pi.lb)
      out$pi_ub <- num(pr$pi.ub)
      ci <- tryCatch(suppressWarnings(confint(f$res, control = list(tol = 1e-12))), error = function(e) e)
      if (!inherits(ci, "error")) {
        out$tau2_ci <- num(ci$random["tau^2", c("ci.lb", "ci.ub")])
        out$I2_ci <- num(ci$random["I^2(%)", c("ci.lb", "ci.ub")])
        out$H2_ci <- num(ci$random["H^2", c("ci.lb", "ci.ub")])
        out$ci_null <- isTRUE(ci$ci.null)
      }
    }
    lev[[length(lev) + 1]] <- out
  }
}

write_json(list(info = meta_info, metareg = metareg, leave1out = l1o, cumul = cum,
                regtest = reg, ranktest = rank, levels = lev),
           file.path(outdir, "metafor_rma_extras.json"),
           auto_unbox = TRUE, digits = I(12), null = "null", na = "null")

cat("datasets:", length(cases), " fits:", sum(sapply(cases, function(x) length(x$fits))),
    " metareg:", length(metareg), " leave1out:", length(l1o), " cumul:", length(cum),
    " regtest:", length(reg), " ranktest:", length(rank), " levels:", length(lev), "\n")
