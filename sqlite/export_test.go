package sqlite

// OtherAdminsQuery is the last-admin check's statement, for the test that
// it runs on an index.
const OtherAdminsQuery = otherAdminsQuery
