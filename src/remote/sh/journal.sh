# shellcheck shell=dash
# The journal (issue 16): a run's apply writes, on the host, its intent before each step (the step's
# undo) and the result after it, with printf into a descriptor it holds open (fd 8): no program per
# step. The next run, drift and `vipush rollback` read it first (under the run lock): a run that did
# not reach its end, and was not reverted, is undone last step first, with the same compare-and-swap
# undos as any rollback, and its temp files are removed. Lines:
#   run NONCE                   the first line: the run (its nonce names its temp files)
#   i N C LEN UNDO              step N is about to run; UNDO: its undo's shell words, base64 ('-': none);
#                               C 1: a failure of the step may have half-applied it (a command)
#   t PATH                      a temp file the step may leave
#   d N | s N | f N             step N done | found its effect already there | failed
#   end | reverted | recovered  the run ended; was reverted by vipush; was undone from this journal
#                               (the journal is then cut down to its first line and that word)
# vp_state (the prelude): vipush's state directory, /var/lib/vipush, root's only.
vp_jdir=$vp_state/journal
vp_jf=$vp_jdir/current
vp_jon='' vp_lost=''

# vp_jopen: a new journal for this run, on fd 8
vp_jopen() {
  if [ ! -d "$vp_jdir" ]; then
    # shellcheck disable=SC2174 # both are vipush's own: root's only
    if ! mkdir -p -m 700 "$vp_jdir" </dev/null || ! chmod 700 "$vp_state"; then
      echo "cannot create vipush's journal directory $vp_jdir" >&2
      return 1
    fi
  fi
  umask 077
  { exec 8>"$vp_jf"; } 2>/dev/null
  vp_l=$?
  umask 022
  if [ $vp_l -eq 0 ] && printf 'run %s\n' "$vp_nonce" >&8; then
    vp_jon=1
    return 0
  fi
  echo "cannot write vipush's journal $vp_jf" >&2
  return 1
}

# vp_jstep index C undo-base64 command args...: one step of a run, journalled
vp_jstep() {
  vp_ji=$1
  printf 'i %s %s %s %s\n' "$1" "$2" "${#3}" "$3" >&8 2>/dev/null || {
    vp_step "$vp_ji" vp_jfail
    return 1
  }
  shift 3
  vp_step "$vp_ji" "$@"
  vp_jr=$?
  if [ $vp_jr -ne 0 ]; then
    printf 'f %s\n' "$vp_ji" >&8
  elif [ -n "$vp_same" ]; then
    printf 's %s\n' "$vp_ji" >&8
  else
    printf 'd %s\n' "$vp_ji" >&8
  fi
  # a marker that could not be written: the controller is gone
  [ -z "$vp_lost" ] || return 1
  return $vp_jr
}

# vp_jstop exit: after a step that failed. With the controller gone, nothing reads the outcome and
# nothing would revert: the script reverts from its journal by itself, at this step boundary.
vp_jstop() {
  if [ -n "$vp_lost" ]; then
    exec >/dev/null 2>&1
    vp_jrecover
    exit 74
  fi
  exit "$1"
}

vp_jfail() {
  echo "cannot write vipush's journal $vp_jf; changed nothing" >&2
  return 1
}

# vp_jtemp path: a temp file the current step is about to create (vp_write), in the journal if one is open
vp_jtemp() {
  [ -z "$vp_jon" ] || printf 't %s\n' "$1" >&8
}

# vp_jclose: the run ended. The renames are made durable first (vp_dflush); then the journal keeps
# only its first line and `end`, so the next run reads two short lines.
vp_jclose() {
  vp_dflush
  printf 'end\n' >&8
  { exec 8>"$vp_jf"; } 2>/dev/null && printf 'run %s\nend\n' "$vp_nonce" >&8
  exec 8>&-
  vp_jon=''
}

# vp_jmark word run: the journal of that run (only: a revert over a new connection names the run it
# reverts) says it is over, in two short lines: the next reads do not read its undos again
vp_jmark() {
  vp_l=
  read -r vp_l <"$vp_jf" 2>/dev/null
  [ "$vp_l" = "run $2" ] || return 0
  printf 'run %s\n%s\n' "$2" "$1" >"$vp_jf"
}

# vp_jrecover [peek]: reads the journal; a run that did not end and was not reverted is undone, last step
# first (each undo a compare-and-swap: only what the run wrote and still finds there), its temp files
# removed, and the journal marked recovered. Says what it did in marked lines:
#   jstep N (then vp_step's markers for the undo of step N), and at the end
#   journal STATE RUN UNDONE FAILED   STATE: none | end | reverted | recovered (earlier) | undone (now)
# peek (--check, drift: they change nothing, and hold no lock): says `unfinished` and undoes nothing.
vp_jrecover() {
  vp_jrun='' vp_jtodo='' vp_jend='' vp_jtmp=''
  if [ ! -s "$vp_jf" ]; then
    vp_mark "journal none"
    return 0
  fi
  set -f
  while IFS= read -r vp_l; do
    # shellcheck disable=SC2086 # splitting the line into its words is the point
    set -- $vp_l
    [ $# -gt 0 ] || continue
    case $1 in
      run) vp_jrun=${2:-} ;;
      i)
        [ $# -eq 5 ] || continue
        case $2 in '' | *[!0-9]*) continue ;; esac
        # a line cut short: its step never started
        [ "${#5}" = "$4" ] || continue
        eval "vp_ju$2=\$5 vp_jc$2=\$3 vp_js$2=i"
        vp_jtodo="$2 $vp_jtodo"
        ;;
      d | s | f)
        case ${2:-x} in *[!0-9]*) continue ;; esac
        eval "vp_js$2=\$1"
        ;;
      t) vp_jtmp="$vp_jtmp${vp_l#t }
" ;;
      end | reverted | recovered) vp_jend=$1 ;;
    esac
  done <"$vp_jf"
  set +f
  if [ -n "$vp_jend" ]; then
    vp_mark "journal $vp_jend ${vp_jrun:--} 0 0"
    return 0
  fi
  if [ "${1:-}" = peek ]; then
    vp_mark "journal unfinished ${vp_jrun:--} 0 0"
    return 0
  fi
  # the undos' own temp files are not this journal's (an apply reverting itself still holds it open)
  vp_jon=''
  vp_jn=0 vp_jx=0
  for vp_l in $vp_jtodo; do
    eval "vp_u=\$vp_ju$vp_l vp_c=\$vp_jc$vp_l vp_s=\$vp_js$vp_l"
    # found already there, or one of vipush's own steps that failed (it changed nothing): no undo
    [ "$vp_s" != s ] || continue
    [ "$vp_s" != f ] || [ "$vp_c" = 1 ] || continue
    [ "$vp_u" != - ] || continue
    vp_mark "jstep $vp_l"
    if vp_u=$(printf '%s' "$vp_u" | base64 -d) && eval "vp_step $vp_l $vp_u"; then
      vp_jn=$((vp_jn + 1))
    else
      vp_jx=$((vp_jx + 1))
    fi
  done
  # its temp files: each one a `.vipush-RUN-` name, no other
  while IFS= read -r vp_l; do
    case ${vp_l##*/} in ".vipush-$vp_jrun-"*) [ ! -e "$vp_l" ] || rm -f -- "$vp_l" ;; esac
  done <<VIPUSH_TMP
$vp_jtmp
VIPUSH_TMP
  vp_dflush
  printf 'run %s\nrecovered\n' "$vp_jrun" >"$vp_jf"
  vp_mark "journal undone ${vp_jrun:--} $vp_jn $vp_jx"
}
