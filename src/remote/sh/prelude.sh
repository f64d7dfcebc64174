# shellcheck shell=dash
# The head of every script vipush runs on a host. The controller sets, before it:
#   vp_nonce  hex, unguessable: in every marker, so nothing a step prints can pass for one
#   vp_run    vipush's directory for the run lock and scratch output (root's only)
#   vp_state  vipush's state directory, kept across boots (root's only): the journal
# It may run in a shell that ran something before: start from a known state.
set -u +e +f
IFS=' 	
'
umask 022
m="@@vipush:$vp_nonce:"
# names vp_write's temp files: not guessable, so nothing can be planted in their place in advance
vp_r=$vp_nonce
vp_out=$vp_run/out
# the directory of vp_write's last rename, not yet on the disk
vp_dsync=''


# A marker line: a newline first, so it starts a line whatever came before it; the parser takes that
# newline as part of the marker, so the bytes between two markers are exactly what was printed.
vp_mark() { printf '\n%s%s\n' "$m" "$*"; }
