package connevents

// The programs are compiled ahead of time and committed, so that building
// tcp-advisor needs no C compiler; `go generate` rebuilds them with clang
// and libbpf's headers (Makefile: make bpf, which checks they match).
//go:generate go tool -modfile=../../../internal/tools/go.mod bpf2go -target bpfel,bpfeb -cflags "-O2 -g -Wall -Werror" -no-global-types -type flow_key -type counts conn bpf/connevents.c
