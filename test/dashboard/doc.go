// Package dashboard holds the end-to-end tests of the web dashboard: real
// agents running pods on a real containerd, the page driven in a real
// headless Chromium (/usr/bin/chromium, scripts/install-deps.sh installs
// it), and its data API asked over plain HTTP for the access rules.
package dashboard
