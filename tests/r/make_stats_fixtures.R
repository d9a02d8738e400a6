#!/usr/bin/env Rscript
# Reference fixtures for the engine methods added in issue 14 (evsynth.stats): Mantel-Haenszel and
# Peto pooling, influence(), predict() with new moderators, Baujat plot data, and probes for the
# engine hardening (extreme sampling-variance ratios, single-patient GLMMs, GLMM logLik scale).
#
# Usage (from the repository root; needs R with metafor, lme4 and jsonlite, e.g. Debian's
# r-cran-metafor 3.8.1 which pulls in lme4 and jsonlite):
#   Rscript tests/r/make_stats_fixtures.R [output_dir]     # default: tests/fixtures
# Writes metafor_stats.json. Deterministic: set.seed(20261202). Numbers with 15 significant digits.
# rma() fits use tight control (threshold=1e-11, tol=1e-12, maxiter=5000) so that the numbers are
# the fixed point (metafor's defaults stop Fisher scoring |change| <= 1e-5 away from it).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
outdir <- if (length(args) >= 1) args[1] else file.path("tests", "fixtures")
dir.create(outdir, showWarnings = FALSE, recursive = TRUE)
set.seed(20261202)
TIGHT <- list(threshold = 1e-11, tol = 1e-12, maxiter = 5000)
num <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(x)

# --- sparse 2x2 tables: rare events, zero cells, double-zero tables ----------------------------
make_tables <- function(id) {
  k <- sample(c(1, 2, 3, 4, 5, 6, 8, 10, 15), 1)
  kind <- sample(c("rare", "rare", "verysparse", "moderate", "tiny_n"), 1)
  n1 <- switch(kind, tiny_n = sample(1:6, k, TRUE), sample(5:200, k, TRUE))
  n2 <- switch(kind, tiny_n = sample(1:6, k, TRUE), sample(5:200, k, TRUE))
  p2 <- switch(kind, rare = runif(1, 0.005, 0.05), verysparse = runif(1, 0.0005, 0.01),
               moderate = runif(1, 0.1, 0.5), tiny_n = runif(1, 0.1, 0.6))
  or <- exp(rnorm(1, 0, 0.8))
  p1 <- plogis(qlogis(p2) + log(or) + rnorm(k, 0, 0.3))
  list(id = id, kind = kind, ai = rbinom(k, n1, p1), n1i = n1, ci = rbinom(k, n2, p2), n2i = n2)
}

mh_fit <- function(d, measure) {
  r <- try(suppressWarnings(rma.mh(ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i,
                                   measure = measure)), silent = TRUE)
  if (inherits(r, "try-error")) return(list(error = as.character(r)))
  list(estimate = num(r$beta), se = num(r$se), zval = num(r$zval), pval = num(r$pval),
       ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), q = num(r$QE), q_pval = num(r$QEp),
       i2 = num(r$I2), h2 = num(r$H2), k = num(r$k), k_yi = num(r$k.yi),
       cmh = num(r$MH), cmh_pval = num(r$MHp), tarone = num(r$TA), tarone_pval = num(r$TAp))
}

peto_fit <- function(d) {
  r <- try(suppressWarnings(rma.peto(ai = d$ai, n1i = d$n1i, ci = d$ci, n2i = d$n2i)), silent = TRUE)
  if (inherits(r, "try-error")) return(list(error = as.character(r)))
  list(estimate = num(r$beta), se = num(r$se), zval = num(r$zval), pval = num(r$pval),
       ci_lb = num(r$ci.lb), ci_ub = num(r$ci.ub), q = num(r$QE), q_pval = num(r$QEp),
       i2 = num(r$I2), h2 = num(r$H2), k = num(r$k), k_yi = num(r$k.yi))
}

tables <- lapply(seq_len(80), make_tables)
# hand-made edge cases: no events in one arm, a double-zero table, all tables double-zero in one
# outcome, every table with a zero cell
tables <- c(tables, list(
  list(id = 81, kind = "edge_noevents_arm1", ai = c(0, 0, 0), n1i = c(10, 20, 15), ci = c(1, 3, 0), n2i = c(12, 18, 14)),
  list(id = 82, kind = "edge_double_zero", ai = c(0, 2, 1, 0), n1i = c(30, 25, 40, 8), ci = c(0, 1, 4, 2), n2i = c(28, 26, 41, 9)),
  list(id = 83, kind = "edge_all_zero_cells", ai = c(0, 3, 0), n1i = c(10, 3, 7), ci = c(2, 0, 1), n2i = c(11, 4, 7)),
  list(id = 84, kind = "edge_all_events", ai = c(5, 3), n1i = c(5, 3), ci = c(4, 6), n2i = c(4, 6))
))
mh <- lapply(tables, function(d) c(d, list(
  OR = mh_fit(d, "OR"), RR = mh_fit(d, "RR"), RD = mh_fit(d, "RD"), PETO = peto_fit(d))))

# --- influence(), baujat(), predict() ---------------------------------------------------------
make_uni <- function(id) {
  k <- sample(c(3, 4, 5, 6, 8, 10, 14, 20), 1)
  vi <- if (runif(1) < 0.3) 10^runif(k, -3, 1) else runif(k, 0.01, 0.5)
  x1 <- round(rnorm(k), 3)
  tau2 <- sample(c(0, 0.05, 0.3), 1)
  yi <- 0.2 + 0.3 * x1 + rnorm(k, 0, sqrt(tau2 + vi))
  list(id = id, k = k, yi = yi, vi = vi, x1 = x1)
}
infl_fit <- function(d, method, test, mods) {
  r <- try(suppressWarnings(if (mods) rma(d$yi, d$vi, mods = ~ d$x1, method = method, test = test,
                                          control = TIGHT)
                            else rma(d$yi, d$vi, method = method, test = test, control = TIGHT)), silent = TRUE)
  if (inherits(r, "try-error")) return(list(error = as.character(r)))
  inf <- try(suppressWarnings(influence(r)), silent = TRUE)
  if (inherits(inf, "try-error")) return(list(error = as.character(inf)))
  pdf(NULL); b <- baujat(r); dev.off()
  out <- list(method = method, test = test, mods = mods, tau2 = num(r$tau2),
              rstudent = num(inf$inf$rstudent), dffits = num(inf$inf$dffits),
              cooks_distance = num(inf$inf$cook.d), cov_r = num(inf$inf$cov.r),
              tau2_del = num(inf$inf$tau2.del), qe_del = num(inf$inf$QE.del),
              hat = num(inf$inf$hat), weight = num(inf$inf$weight),
              dfbetas = lapply(inf$dfbs[seq_len(r$p)], num),
              baujat_x = num(b$x), baujat_y = num(b$y))
  if (mods) {
    newx <- c(-1, 0, 0.5, 2)
    p <- predict(r, newmods = newx)
    out$predict <- list(newmods = newx, pred = num(p$pred), se = num(p$se), ci_lb = num(p$ci.lb),
                        ci_ub = num(p$ci.ub), pi_lb = num(p$pi.lb), pi_ub = num(p$pi.ub))
  }
  out
}
unis <- lapply(seq_len(40), make_uni)
infl <- lapply(unis, function(d) {
  fits <- list()
  for (method in c("REML", "DL", "FE")) for (test in c("z", "knha")) for (mods in c(FALSE, TRUE)) {
    if (mods && d$k < 4) next
    fits[[length(fits) + 1]] <- infl_fit(d, method, test, mods)
  }
  c(d, list(fits = fits))
})

# --- extreme variance ratios: tau^2 and its SE --------------------------------------------------
extreme <- lapply(seq_len(30), function(id) {
  k <- sample(2:6, 1)
  ratio <- 10^sample(3:6, 1)
  vi <- c(1, 10^runif(k - 1, -log10(ratio), 0))
  yi <- rnorm(k, 0, 1.5)
  fits <- lapply(c("DL", "REML", "HE", "PM"), function(m) {
    r <- try(suppressWarnings(rma(yi, vi, method = m, control = TIGHT)), silent = TRUE)
    if (inherits(r, "try-error")) return(list(method = m, error = as.character(r)))
    list(method = m, tau2 = num(r$tau2), se_tau2 = num(r$se.tau2), estimate = num(r$beta),
         se = num(r$se), q = num(r$QE), i2 = num(r$I2))
  })
  list(id = id, ratio = ratio, yi = yi, vi = vi, fits = fits)
})

# --- GLMM: single-patient reports (n = 1) and tau^2 > 0 logLik -------------------------------
glmm_fit <- function(x, n) {
  r <- try(suppressWarnings(rma.glmm(measure = "PLO", xi = x, ni = n)), silent = TRUE)
  if (inherits(r, "try-error")) return(list(error = as.character(r)))
  list(estimate = num(r$beta), se = num(r$se), tau2 = num(r$tau2), loglik = num(logLik(r)))
}
glmm <- c(
  lapply(seq_len(12), function(id) {
    k <- sample(4:20, 1)
    x <- rbinom(k, 1, runif(1, 0.2, 0.8))
    if (all(x == 0) || all(x == 1)) x[1] <- 1 - x[1]
    list(id = id, kind = "single_patient", xi = x, ni = rep(1, k), fit = glmm_fit(x, rep(1, k)))
  }),
  lapply(13:24, function(id) {
    k <- sample(4:12, 1)
    n <- sample(5:60, k, TRUE)
    x <- rbinom(k, n, plogis(rnorm(k, qlogis(runif(1, 0.1, 0.6)), 0.8)))
    list(id = id, kind = "tau2_positive", xi = x, ni = n, fit = glmm_fit(x, n))
  })
)

info <- list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
             lme4 = as.character(packageVersion("lme4")), seed = 20261202,
             note = "Debian r-cran-metafor 3.8.1; rma() with control threshold=1e-11, tol=1e-12, maxiter=5000")
out <- list(info = info, mh = mh, influence = infl, extreme = extreme, glmm = glmm)
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, na = "null", null = "null"),
           file.path(outdir, "metafor_stats.json"))
cat("wrote", file.path(outdir, "metafor_stats.json"), "\n")
