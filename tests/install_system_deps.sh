#!/usr/bin/env bash
# Debian packages that the test suite needs for its reference and cluster tests:
#   R with the NMF package (reference implementation, with the esGolub data),
#   a one-node SLURM cluster with accounting (slurmctld, slurmd, slurmdbd, MariaDB, munge),
#   Chromium, in which tests/test_report_browser.py opens the workflow's report.
# Idempotent; needs root (or sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
packages=(r-base-core r-cran-nmf slurm-wlm slurmdbd mariadb-server munge chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
