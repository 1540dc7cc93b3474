// Package consoletest holds the web console's end-to-end browser test: it starts the
// whole suite, seeds a small generated world, and drives the console the gateway serves
// in headless Chromium (Debian's chromium, installed by scripts/browser) the way an
// operator would — log in, browse every page, build a segment, launch a campaign and
// read its report — saving a screenshot of each page as a test artefact.
//
// The suite runs on the embedded stack (in-process Kafka and Redis, SQLite): the test
// is about the console, and a Kafka of its own keeps it from sharing consumer groups
// with the suites that other packages' integration tests run on the real
// infrastructure at the same time. It is built with the integration tag, so make check
// runs it after installing Chromium (make browser). It finds the browser in
// STRATA_CHROMIUM, else chromium on PATH, and fails without one; it writes the
// screenshots under STRATA_ARTIFACTS, else a temporary directory, and logs the path.
// TestGatewayServesConsole, without the tag, checks the same mount without a browser.
// The package has no non-test code.
package consoletest
