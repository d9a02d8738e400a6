# Reference numbers for the shipped analyses, computed by R metafor from the same yi/vi the pipeline
# built (tests/fixtures/analysis_inputs.json, written from results/analyses/*/studies.csv); analyses whose
# model is the binomial-normal GLMM are fitted with rma.glmm from their events (xi) and sizes (ni).
# Rerun: Rscript tests/r/make_analysis_fixture.R   (needs Debian's r-cran-metafor and r-cran-jsonlite)
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
inputs <- fromJSON("tests/fixtures/analysis_inputs.json", simplifyVector = TRUE)
out <- list(metafor_version = as.character(packageVersion("metafor")), R_version = R.version.string)
for (name in names(inputs)) {
  a <- inputs[[name]]
  if (identical(a$model, "glmm")) {
    # single proportions: the binomial-normal GLMM (metafor's defaults: ML, nAGQ = 7, z-based CI)
    res <- rma.glmm(measure = "PLO", xi = a$xi, ni = a$ni)
    pr <- predict(res)
    out[[name]] <- list(estimate = as.numeric(res$beta), se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
                        pi_lb = pr$pi.lb, pi_ub = pr$pi.ub, tau2 = res$tau2, pval = res$pval, k = res$k)
    next
  }
  # threshold: metafor stops iterating at a change of 1e-5 by default; the tight threshold puts both
  # metafor and evsynth at the same optimum, so the comparison can be at 1e-6
  res <- rma(yi = a$yi, vi = a$vi, method = a$method, test = a$test,
             control = list(threshold = 1e-12, maxiter = 1000))
  pr <- predict(res)
  out[[name]] <- list(estimate = as.numeric(res$beta), se = res$se, ci_lb = res$ci.lb, ci_ub = res$ci.ub,
                      pi_lb = pr$pi.lb, pi_ub = pr$pi.ub, tau2 = res$tau2, i2 = res$I2, q = res$QE,
                      pval = res$pval, k = res$k)
}
write_json(out, "tests/fixtures/metafor_analyses.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
