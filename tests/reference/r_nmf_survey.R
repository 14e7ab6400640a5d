#!/usr/bin/env Rscript
# Consensus NMF rank survey of the Golub data (esGolub) with the R package NMF (Gaujoux & Seoighe
# 2010), the reference implementation that bionmf is checked and benchmarked against.
#
# Usage:
#   Rscript r_nmf_survey.R --out=DIR [--ranks=2,3,4,5] [--nrun=30] [--seed=123456]
#                          [--method=brunet] [--keep-all] [--matrix]
#
# Runs are sequential (.options '-p': no foreach/doParallel backend), so the times are those of
# one core and the runs are reproducible from --seed. Each rank is a separate nmf() call timed on
# its own (that call only, R start-up and package loading excluded): elapsed (wall) seconds and
# CPU seconds (user + system), the latter less disturbed by other jobs on a busy machine.
#
# Writes into DIR (tab-separated, with header):
#   metrics.tsv       rank, nrun, cophenetic (cophcor), dispersion, seconds, cpu_seconds, mean_iter
#                     (mean iterations per run; NA unless --keep-all)
#   clusters.tsv      sample, then one column per rank: predict(fit, what = "consensus"),
#                     the average-linkage tree of 1 - consensus cut into k groups
#   consensus_k<k>.tsv  the consensus matrix of rank k (samples x samples, sample names as header)
#   niter.tsv         rank, run, iterations (only with --keep-all)
#   golub_exprs.tsv   exprs(esGolub), genes x samples, with probe ids and sample names (--matrix)
#   session.tsv       R and NMF versions, total seconds (wall and CPU) of the nmf() calls

suppressPackageStartupMessages(library(NMF))

args <- commandArgs(trailingOnly = TRUE)
opt <- list(out = NA, ranks = "2,3,4,5", nrun = "30", seed = "123456", method = "brunet",
            "keep-all" = FALSE, matrix = FALSE)
for (a in args) {
  kv <- regmatches(a, regexec("^--([^=]+)(=(.*))?$", a))[[1]]
  if (length(kv) == 0 || !(kv[2] %in% names(opt))) stop("unknown argument: ", a)
  opt[[kv[2]]] <- if (nzchar(kv[3])) kv[4] else TRUE
}
if (is.na(opt$out)) stop("--out=DIR is required")
ranks <- as.integer(strsplit(opt$ranks, ",")[[1]])
nrun <- as.integer(opt$nrun)
seed <- as.integer(opt$seed)
keep_all <- isTRUE(opt[["keep-all"]])
if (is.na(nrun) || nrun < 2) stop("--nrun must be at least 2: consensus needs several runs")
dir.create(opt$out, showWarnings = FALSE, recursive = TRUE)
out <- function(name) file.path(opt$out, name)
write_tsv <- function(x, name) {
  write.table(x, out(name), sep = "\t", quote = FALSE, row.names = FALSE, na = "NA")
}

data(esGolub)
samples <- sampleNames(esGolub)
if (isTRUE(opt$matrix)) {
  m <- exprs(esGolub)
  write_tsv(data.frame(gene = rownames(m), m, check.names = FALSE), "golub_exprs.tsv")
}

options_string <- if (keep_all) "k-p" else "-p"
metrics <- data.frame()
clusters <- data.frame(sample = samples, check.names = FALSE)
niter_rows <- data.frame()
for (k in ranks) {
  timing <- system.time(
    fit <- nmf(esGolub, k, opt$method, nrun = nrun, seed = seed, .options = options_string)
  )
  elapsed <- timing[["elapsed"]]
  cpu <- timing[["user.self"]] + timing[["sys.self"]]
  mean_iter <- NA
  if (keep_all) {
    iters <- sapply(fit, niter)
    mean_iter <- mean(iters)
    niter_rows <- rbind(niter_rows, data.frame(rank = k, run = seq_along(iters) - 1L, iterations = iters))
  }
  metrics <- rbind(metrics, data.frame(rank = k, nrun = nrun, cophenetic = cophcor(fit),
                                       dispersion = dispersion(fit), seconds = elapsed,
                                       cpu_seconds = cpu, mean_iter = mean_iter))
  clusters[[as.character(k)]] <- as.integer(predict(fit, what = "consensus"))
  C <- consensus(fit)[samples, samples]
  write_tsv(data.frame(sample = samples, C, check.names = FALSE), sprintf("consensus_k%d.tsv", k))
  message(sprintf("rank %d: %d runs in %.1f s, cophenetic %.4f", k, nrun, elapsed, cophcor(fit)))
}
write_tsv(metrics, "metrics.tsv")
write_tsv(clusters, "clusters.tsv")
if (keep_all) write_tsv(niter_rows, "niter.tsv")
write_tsv(data.frame(R = R.version.string, NMF = as.character(packageVersion("NMF")),
                     method = opt$method, seed = seed, nrun = nrun,
                     total_seconds = sum(metrics$seconds),
                     total_cpu_seconds = sum(metrics$cpu_seconds)), "session.tsv")
