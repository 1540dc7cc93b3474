// Package clv values customers with the BG/NBD model of repeat purchases (Fader, Hardie
// & Lee 2005, "Counting Your Customers the Easy Way") and the Gamma-Gamma model of
// spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV"), both fitted by
// maximum likelihood.
//
// A customer is summarised by [Summary]: x, the number of repeat transactions (days
// with a purchase after the first one), t_x, the time from the first to the last
// transaction, and T, the time from the first transaction to the end of the
// observation window, all in one time unit chosen by the caller (the papers use
// weeks). [Summarize] builds summaries from dated purchases, counting purchases on the
// same day as one transaction, as the papers do.
//
// The BG/NBD log-likelihood is computed in log space (log-gamma and log-sum-exp), so it
// stays finite for customers with hundreds of transactions; the fit maximises it over
// log-parameters with BFGS and an analytic gradient. Customers sharing a repeat count
// share the terms that depend on x only, so a fit costs a few logarithms per customer
// and evaluation; the per-customer part runs on every CPU.
//
// Everything here is pure computation: values are immutable after a fit and safe for
// concurrent use.
package clv
