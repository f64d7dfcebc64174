# shellcheck shell=dash
# Facts: read-only. Each section starts with a marker and ends where the next begins; the controller
# parses them in src/facts. Written to start as few programs as it can (each fork+exec costs the host
# several ms of CPU, and the host side dominates a fleet run): shell builtins read every sysctl and
# small file; one `ip` and one `tar` do the rest.

vp_facts_ssh() {
  vp_mark ssh
  printf '%s\n' "${SSH_CONNECTION:-}"
}

vp_facts_addr() {
  vp_mark addr
  ip -j addr show 2>/dev/null
}

# vp_facts_procsys path...: every interface's ARP sysctls and the given /proc/sys paths, as
# path:value lines. dash's read takes a file one byte at a time, and a /proc/sys file gives nothing
# past its first read: the shell can read only one-byte values itself. The ARP sysctls are one digit,
# so the shell reads them (no program); any other key costs one grep for all of them.
vp_facts_procsys() {
  vp_mark procsys
  for f in /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce; do
    v=
    { read -r v || [ -n "$v" ]; } 2>/dev/null <"$f"
    if [ -n "$v" ]; then printf '%s:%s\n' "$f" "$v"; fi
  done
  vp_k=
  for f do
    case $f in
      */arp_ignore | */arp_announce) ;;
      *) vp_k=1 ;;
    esac
  done
  [ -z "$vp_k" ] || grep -H -s '' -- "$@"
}

# vp_facts_paths path...: whether each exists
vp_facts_paths() {
  for p do
    vp_mark "path $p"
    if [ -e "$p" ]; then echo yes; else echo no; fi
  done
}

# vp_facts_files pattern...: the files the patterns name (exact paths, or globs without blanks), as
# one tar archive (`tar -ch`: contents, mode and owner of each, symlinks followed; the SSH channel is
# 8-bit clean, so nothing needs encoding). A file that is the same file as one listed before it is not
# read twice: the `files` section names it and the file it is. `[ -ef ]` decides, asked only where it
# can be true without a hard link (tar reports those itself): when either path is a symlink (Debian's
# 99-sysctl.conf -> ../sysctl.conf, /etc/os-release), or the two have one name (/lib -> /usr/lib), so
# a host with many files does not pay for every pair. A host without tar gets `stat` + `cat` instead
# (sizes and modes, then the raw bytes). The end marker carries the reader's exit status: a file it
# could not read (or that changed while it was read) fails the facts instead of looking absent.
vp_facts_files() {
  vp_mark files
  nl='
'
  # $k: the symlinks listed so far, one per line
  k=$nl
  vp_g=$*
  set --
  # shellcheck disable=SC2086 # the patterns are globs
  for f in $vp_g; do
    [ -f "$f" ] || continue
    case "$f" in *"$nl"*) continue ;; esac
    l=
    [ ! -L "$f" ] || l=1
    for g do
      if [ -n "$l" ] || [ "${g##*/}" = "${f##*/}" ] || case $k in *"$nl$g$nl"*) true ;; *) false ;; esac; then
        [ "$f" -ef "$g" ] && { printf '%s\n%s\n' "$f" "$g"; continue 2; }
      fi
    done
    set -- "$@" "$f"
    [ -z "$l" ] || k=$k$f$nl
  done
  r=0
  if command -v tar >/dev/null 2>&1; then
    vp_mark filetar
    [ $# -eq 0 ] || tar -chf - -- "$@" 2>/dev/null || r=$?
  else
    vp_mark filemeta
    [ $# -eq 0 ] || stat -L -c '%s %a %u %g %n' -- "$@" || r=$?
    vp_mark filedata
    [ $# -eq 0 ] || cat -- "$@" || r=$?
  fi
  vp_mark "end $r"
}
