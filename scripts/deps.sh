#!/bin/sh
# Checks the build dependencies and installs what is missing: with apt-get when run as root,
# otherwise prints the exact install line and fails.
# Needed: a C compiler with OpenMP, make, reference cblas (libblas-dev: the tests' oracle),
# zlib (gzip IDX data), cJSON (safetensors headers, JSON reports).
# Fashion-MNIST (dataset-fashion-mnist) is the data every training, eval and search uses.
missing=""
have_hdr() { [ -f "/usr/include/$1" ] || [ -f "/usr/include/x86_64-linux-gnu/$1" ]; }
command -v cc >/dev/null 2>&1 || missing="$missing gcc"
command -v make >/dev/null 2>&1 || missing="$missing make"
have_hdr cblas.h || missing="$missing libblas-dev"
have_hdr zlib.h || missing="$missing zlib1g-dev"
have_hdr cjson/cJSON.h || missing="$missing libcjson-dev"
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    missing="$missing dataset-fashion-mnist"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "qnas: installing missing packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $missing >/dev/null || {
        echo "qnas: apt-get install failed; run: apt-get install$missing" >&2; exit 2; }
    exit 0
fi
echo "qnas: missing build dependencies. Install them with:" >&2
echo "  sudo apt-get install$missing" >&2
exit 2
