#!/bin/sh
# gen-docs.sh BIN DIR: writes into DIR the man page and the shell
# completions that the tcp-advisor binary BIN generates from its command
# table, the same source as its --help:
#   tcp-advisor.8.gz   -> /usr/share/man/man8/
#   tcp-advisor.bash   -> /usr/share/bash-completion/completions/tcp-advisor
#   _tcp-advisor       -> /usr/share/zsh/vendor-completions/ (deb),
#                         /usr/share/zsh/site-functions/ (rpm)
# BIN must run on this machine. Used by `make build` and the tests that
# build the packages.
set -eu
bin=$1
dir=$2
mkdir -p "$dir"
"$bin" gen-man >"$dir/tcp-advisor.8"
gzip -9nf "$dir/tcp-advisor.8"
"$bin" gen-completion bash >"$dir/tcp-advisor.bash"
"$bin" gen-completion zsh >"$dir/_tcp-advisor"
