package privacyv1

// ReceiptKey is the record key of service's receipt of request requestID on
// strata.privacy.receipts.v1: "<request id>/<service>", so that the receipts of a
// request from several services, or of one service's redeliveries, are told apart by
// key. (Written by hand beside the generated code: the one place of the convention.)
func ReceiptKey(requestID, service string) []byte {
	return []byte(requestID + "/" + service)
}
