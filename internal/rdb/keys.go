package rdb

// tagged returns "compressq:{id}": the prefix of every key of the job,
// sweep or sensitivity run id, whose hash tag puts them all in one Redis
// Cluster slot. Redis hashes the text between the first '{' and the next
// '}', so an id holding '}' would be cut short there: its keys then still
// share a slot, since they share that prefix.
func tagged(id string) string { return "compressq:{" + id + "}" }
