#!/usr/bin/env Rscript
## Reference values from R metafor for evsynth.stats.effects and evsynth.stats.glmm.
##
## Writes tests/fixtures/metafor_escalc.json (escalc + transf functions) and
## tests/fixtures/metafor_glmm.json (rma.glmm(measure = "PLO")).
## Run from the repository root:  Rscript tests/r/make_escalc_fixtures.R
## CI has no R: the tests read only the JSON written here.

suppressPackageStartupMessages({
  library(metafor)
  library(lme4)
  library(jsonlite)
})

set.seed(20240611)
out_dir <- file.path("tests", "fixtures")
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

versions <- list(
  R = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  lme4 = as.character(packageVersion("lme4")),
  jsonlite = as.character(packageVersion("jsonlite")),
  seed = 20240611L
)

## ---------------------------------------------------------------------------
## random inputs

## sample sizes: many tiny ones (1, 2, 3) plus moderate and large ones
rsize <- function(n, min = 1L) {
  pick <- sample(1:4, n, replace = TRUE, prob = c(.25, .35, .3, .1))
  s <- ifelse(pick == 1, sample(min:max(min, 3L), n, replace = TRUE),
       ifelse(pick == 2, sample(max(min, 4L):30L, n, replace = TRUE),
       ifelse(pick == 3, sample(31:400, n, replace = TRUE),
              sample(401:20000, n, replace = TRUE))))
  as.numeric(s)
}

## event counts out of n with extra mass on 0 and n
revents <- function(n) {
  p <- rbeta(length(n), .6, .6)
  x <- rbinom(length(n), n, p)
  u <- runif(length(n))
  x[u < .12] <- 0
  x[u > .90] <- n[u > .90]
  as.numeric(x)
}

## standard deviations, including tiny ones
rsd <- function(n) {
  s <- exp(rnorm(n, 1, 1.5))
  tiny <- runif(n) < .1
  s[tiny] <- 10^runif(sum(tiny), -9, -4)
  s
}

rmean <- function(n) round(rnorm(n, 10, 20), 3)

rcor <- function(n) {
  r <- runif(n, -1, 1)
  u <- runif(n)
  r[u < .05] <- 1
  r[u > .95] <- -1
  r[u > .90 & u <= .95] <- 0
  r
}

## ---------------------------------------------------------------------------
## escalc cases: each case is one call (one vector of studies)

cases <- list()
add_case <- function(measure, args, options = list(), label = "") {
  res <- suppressWarnings(do.call(escalc, c(list(measure = measure), args, options)))
  cases[[length(cases) + 1L]] <<- list(
    label = label, measure = measure, args = args, options = options,
    yi = as.numeric(res$yi), vi = as.numeric(res$vi)
  )
}

n_big <- 250L  # studies per default-option case
n_opt <- 40L   # studies per option-variant case

## two-by-two tables
tables <- function(n) {
  n1 <- rsize(n); n2 <- rsize(n)
  a <- revents(n1); c <- revents(n2)
  list(ai = a, bi = n1 - a, ci = c, di = n2 - c, n1i = n1, n2i = n2)
}
for (m in c("RR", "OR", "RD")) {
  t <- tables(n_big)
  add_case(m, t[c("ai", "bi", "ci", "di")], label = "cells, defaults")
  t <- tables(n_big)
  add_case(m, t[c("ai", "n1i", "ci", "n2i")], label = "group sizes, defaults")
  t <- tables(n_opt)[c("ai", "bi", "ci", "di")]
  add_case(m, t, list(add = 0), label = "add=0")
  add_case(m, t, list(to = "all"), label = "to=all")
  add_case(m, t, list(to = "if0all"), label = "to=if0all")
  add_case(m, t, list(to = "none"), label = "to=none")
  add_case(m, t, list(add = 1, to = "only0"), label = "add=1")
  add_case(m, t, list(drop00 = TRUE), label = "drop00")
}
t <- tables(n_opt)[c("ai", "bi", "ci", "di")]
add_case("RD", t, list(vtype = "UB"), label = "vtype=UB")
add_case("RD", t, list(vtype = "AV"), label = "vtype=AV")
## only studies without a zero cell, so if0all adds nothing
t <- tables(n_opt)
t$ai <- pmax(t$ai, 1); t$ci <- pmax(t$ci, 1); t$bi <- pmax(t$bi, 1); t$di <- pmax(t$di, 1)
add_case("OR", t[c("ai", "bi", "ci", "di")], list(to = "if0all"), label = "to=if0all without zeros")

## single proportions
props <- function(n) { ni <- rsize(n); list(xi = revents(ni), ni = ni) }
for (m in c("PR", "PLN", "PLO", "PAS", "PFT")) {
  add_case(m, props(n_big), label = "defaults")
  p <- props(n_opt)
  add_case(m, p, list(add = 0), label = "add=0")
  add_case(m, p, list(add = 1/2, to = "only0"), label = "add=1/2 explicit")
  add_case(m, p, list(to = "all"), label = "to=all")
  add_case(m, p, list(to = "if0all"), label = "to=if0all")
  add_case(m, p, list(to = "none"), label = "to=none")
}
p <- props(n_opt)
add_case("PR", p, list(vtype = "UB"), label = "vtype=UB")
add_case("PR", p, list(vtype = "AV"), label = "vtype=AV")
add_case("PLO", p, list(vtype = "AV"), label = "vtype=AV")
add_case("PLN", p, list(vtype = "AV"), label = "vtype=AV")
add_case("PFT", list(xi = c(0, 1, 0, 5, 10, 0), ni = c(1, 1, 2, 5, 10, 1000)), label = "PFT extremes")
add_case("PLO", list(xi = c(0, 1, 0, 5, 10, 0), ni = c(1, 1, 2, 5, 10, 1000)), label = "PLO extremes")

## single-group means
mn <- function(n) list(mi = rmean(n), sdi = rsd(n), ni = rsize(n))
add_case("MN", mn(n_big), label = "defaults")

## pre-post (change) designs; ni >= 1, cmi undefined for ni <= 2
chg <- function(n) list(m1i = rmean(n), m2i = rmean(n), sd1i = rsd(n), sd2i = rsd(n), ni = rsize(n), ri = rcor(n))
add_case("MC", chg(n_big), label = "defaults")
add_case("SMCC", chg(n_big), label = "defaults")
s <- chg(n_opt)
add_case("SMCC", s, list(vtype = "LS2"), label = "vtype=LS2")
s <- chg(n_big); s$sd2i <- NULL
add_case("SMCR", s, label = "defaults")
s <- chg(n_opt); s$sd2i <- NULL
add_case("SMCR", s, list(vtype = "LS2"), label = "vtype=LS2")
add_case("SMCC", list(m1i = c(5, 5, 1), m2i = c(3, 3, 1), sd1i = c(2, 2, 1), sd2i = c(2, 1, 1),
                      ni = c(10, 10, 2), ri = c(1, 1, .5)), label = "SMCC zero change SD")

## two independent groups
grp <- function(n, positive = FALSE) {
  m1 <- rmean(n); m2 <- rmean(n)
  if (positive) { m1 <- abs(m1) + .1; m2 <- abs(m2) + .1 }
  list(m1i = m1, m2i = m2, sd1i = rsd(n), sd2i = rsd(n), n1i = rsize(n), n2i = rsize(n))
}
add_case("MD", grp(n_big), label = "defaults")
add_case("SMD", grp(n_big), label = "defaults")
add_case("ROM", grp(n_big, positive = TRUE), label = "defaults")
g <- grp(n_opt)
add_case("MD", g, list(vtype = "HO"), label = "vtype=HO")
add_case("MD", g, list(vtype = "UB"), label = "vtype=UB")
add_case("SMD", g, list(vtype = "UB"), label = "vtype=UB")
add_case("SMD", g, list(vtype = "LS2"), label = "vtype=LS2")
add_case("SMD", g, list(vtype = "AV"), label = "vtype=AV")
g <- grp(n_opt, positive = TRUE)
add_case("ROM", g, list(vtype = "HO"), label = "vtype=HO")
add_case("SMD", list(m1i = c(1, 2), m2i = c(0, 0), sd1i = c(1, 1), sd2i = c(1, 1), n1i = c(1, 2), n2i = c(1, 1)),
         label = "SMD n1+n2-2 <= 1")

## ---------------------------------------------------------------------------
## back-transformations

transf <- list()
x_logit <- c(rnorm(100, 0, 4), -800, 800, 0)
transf$ilogit <- list(x = x_logit, y = transf.ilogit(x_logit))
x_exp <- c(rnorm(100, 0, 3), -50, 50)
transf$exp <- list(x = x_exp, y = exp(x_exp))  # metafor uses base exp()
x_as <- c(runif(100, -0.2, pi/2 + 0.2), 0, pi/2)
transf$iarcsin <- list(x = x_as, y = transf.iarcsin(x_as))
transf$ipft_hm <- list()
for (j in 1:40) {
  k <- sample(1:20, 1)
  ni <- rsize(k)
  x <- c(runif(25, -0.1, pi/2 + 0.1), transf.pft(c(0, 1, .5), 1/mean(1/ni)))
  transf$ipft_hm[[j]] <- list(x = x, ni = ni, y = transf.ipft.hm(x, targs = list(ni = ni)))
}
transf$ipft <- list()
for (j in 1:10) {
  x <- runif(30, -0.1, pi/2 + 0.1)
  ni <- rsize(30)
  transf$ipft[[j]] <- list(x = x, ni = ni, y = transf.ipft(x, ni))
}
transf$pft <- list()
for (j in 1:5) {
  ni <- rsize(30)
  p <- runif(30)
  p[1:3] <- c(0, 1, .5)
  transf$pft[[j]] <- list(p = p, ni = ni, y = transf.pft(p, ni))
}

writeLines(toJSON(list(versions = versions, cases = cases, transf = transf),
                  digits = NA, na = "null", auto_unbox = TRUE, pretty = FALSE),
           file.path(out_dir, "metafor_escalc.json"))
cat("escalc cases:", length(cases), " studies:", sum(sapply(cases, function(z) length(z$yi))), "\n")

## ---------------------------------------------------------------------------
## rma.glmm(measure = "PLO"): metafor defaults, plus a tightly converged refit

glmm_sets <- list()
## lme4 stops PIRLS (the conditional modes) at a relative change of 1e-7
## (tolPwrss) and its optimizers at ~1e-5 on the deviance; "tight" tightens the
## optimizer, "exact" also PIRLS, to show what the Python fit converges to.
tight <- list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
exact <- list(glmerCtrl = list(optimizer = "bobyqa", tolPwrss = 1e-13, optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
fit_one <- function(xi, ni, control = NULL) {
  warn <- character(0)
  res <- withCallingHandlers(
    tryCatch({
      r <- if (is.null(control)) rma.glmm(measure = "PLO", xi = xi, ni = ni)
           else rma.glmm(measure = "PLO", xi = xi, ni = ni, control = control)
      pr <- predict(r)
      list(estimate = as.numeric(r$beta), se = r$se, ci_lb = r$ci.lb, ci_ub = r$ci.ub,
           tau2 = r$tau2, zval = r$zval, pval = r$pval,
           pi_lb = as.numeric(pr$pi.lb), pi_ub = as.numeric(pr$pi.ub),
           error = NULL)
    }, error = function(e) list(error = conditionMessage(e))),
    warning = function(w) { warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning") })
  res$warnings <- warn
  res
}

n_sets <- 50L
for (j in seq_len(n_sets)) {
  k <- if (j <= 5) 2L else sample(2:20, 1)
  ni <- as.numeric(sample(c(5:60, 61:400), k, replace = TRUE))
  mu <- rnorm(1, -0.5, 1.5)
  tau <- sample(c(0, 0.2, 0.5, 1, 1.5), 1)
  xi <- as.numeric(rbinom(k, ni, plogis(rnorm(k, mu, tau))))
  if (j %% 4 == 0) xi[sample.int(k, max(1, k %/% 3))] <- 0   # extra zero-event studies
  if (all(xi == 0)) xi[1] <- 1
  if (all(xi == ni)) xi[1] <- ni[1] - 1
  glmm_sets[[j]] <- list(xi = xi, ni = ni, default = fit_one(xi, ni), tight = fit_one(xi, ni, tight),
                         exact = fit_one(xi, ni, exact))
}
## the published examples
pritz <- list(xi = c(16, 10, 4, 43, 10, 25, 13, 12, 22, 4, 5, 18, 58, 6),
              ni = c(17, 12, 8, 58, 10, 42, 14, 12, 41, 5, 6, 23, 68, 10))
glmm_sets[[length(glmm_sets) + 1L]] <- c(list(label = "dat.pritz1997"), pritz,
  list(default = fit_one(pritz$xi, pritz$ni), tight = fit_one(pritz$xi, pritz$ni, tight),
       exact = fit_one(pritz$xi, pritz$ni, exact)))

writeLines(toJSON(list(versions = versions,
                       call = "rma.glmm(measure='PLO', xi, ni) [defaults: method='ML', nAGQ=7, lme4::glmer]; tight: control=list(glmerCtrl=list(optimizer='bobyqa', optCtrl=list(rhoend=1e-12, maxfun=1e5))); exact: as tight plus tolPwrss=1e-13",
                       sets = glmm_sets),
                  digits = NA, na = "null", auto_unbox = TRUE, pretty = FALSE, null = "null"),
           file.path(out_dir, "metafor_glmm.json"))
cat("glmm sets:", length(glmm_sets), "\n")
