package storetest

// featureTests cover the API key, item, two-factor, nonce and audit
// contracts.
var featureTests = []storeTest{}
