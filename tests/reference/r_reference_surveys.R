#!/usr/bin/env Rscript
# Multi-seed consensus NMF rank surveys with the R package NMF (Gaujoux & Seoighe 2010), Brunet's
# algorithm at its defaults (KL updates, connectivity stop: more than 40 unchanged checks, one
# every 10 iterations, at most 2000 iterations), on a matrix written by bionmf
# (tests/reference/brunet_data.py), so that R and bionmf factorize the same numbers.
#
# Usage:
#   Rscript r_reference_surveys.R --input=golub.tsv --name=golub --out=DIR
#                                 [--ranks=2,3,4,5,6] [--nrun=30] [--seeds=1,2,3]
#
# --input: genes x samples, tab-separated, header "gene" then the sample names.
# Runs are sequential (.options "-p") and reproducible from each seed. Writes into DIR:
#   r_<name>_metrics.tsv   seed, rank, nrun, cophenetic (cophcor), dispersion, cpu_seconds
#   r_<name>_clusters.tsv  seed, sample, then one column per rank: predict(fit, what = "consensus")

suppressPackageStartupMessages(library(NMF))

args <- commandArgs(trailingOnly = TRUE)
opt <- list(input = NA, name = NA, out = NA, ranks = "2,3,4,5,6", nrun = "30", seeds = "1,2,3")
for (a in args) {
  kv <- regmatches(a, regexec("^--([^=]+)=(.*)$", a))[[1]]
  if (length(kv) == 0 || !(kv[2] %in% names(opt))) stop("unknown argument: ", a)
  opt[[kv[2]]] <- kv[3]
}
for (required in c("input", "name", "out")) {
  if (is.na(opt[[required]])) stop("--", required, "= is required")
}
ranks <- as.integer(strsplit(opt$ranks, ",")[[1]])
seeds <- as.integer(strsplit(opt$seeds, ",")[[1]])
nrun <- as.integer(opt$nrun)

table <- read.delim(opt$input, check.names = FALSE, row.names = 1)
v <- as.matrix(table)
samples <- colnames(v)
dir.create(opt$out, showWarnings = FALSE, recursive = TRUE)

metrics <- data.frame()
clusters <- data.frame()
for (seed in seeds) {
  per_seed <- data.frame(seed = seed, sample = samples, check.names = FALSE)
  for (k in ranks) {
    timing <- system.time(fit <- nmf(v, k, "brunet", nrun = nrun, seed = seed, .options = "-p"))
    metrics <- rbind(metrics, data.frame(seed = seed, rank = k, nrun = nrun, cophenetic = cophcor(fit),
                                         dispersion = dispersion(fit),
                                         cpu_seconds = timing[["user.self"]] + timing[["sys.self"]]))
    per_seed[[as.character(k)]] <- as.integer(predict(fit, what = "consensus"))
    message(sprintf("%s seed %d rank %d: cophenetic %.4f dispersion %.4f (%.0f s)", opt$name, seed, k,
                    cophcor(fit), dispersion(fit), timing[["elapsed"]]))
  }
  clusters <- rbind(clusters, per_seed)
  # written after every seed, so an interrupted run keeps what it finished
  write.table(metrics, file.path(opt$out, sprintf("r_%s_metrics.tsv", opt$name)), sep = "\t",
              quote = FALSE, row.names = FALSE)
  write.table(clusters, file.path(opt$out, sprintf("r_%s_clusters.tsv", opt$name)), sep = "\t",
              quote = FALSE, row.names = FALSE)
}
