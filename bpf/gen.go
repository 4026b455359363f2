package bpf

// The flags are fixed so that regenerating on any machine with Debian's
// clang gives byte-identical output; CI regenerates and diffs.
//go:generate go tool bpf2go -tags linux -target bpfel -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3 -ffile-prefix-map=${PWD}=." -type flow_event -type dns_event -type stat_index -type ft_tags -type ft_slot -type ft_pool -type ev_ctl -type ep_bucket posture posture.c -- -I./include
