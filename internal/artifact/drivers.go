package artifact

// Bucket drivers a root URL may name. Directory paths and file:// roots are
// opened with fileblob directly.
import (
	_ "gocloud.dev/blob/memblob" // mem://: in-process buckets, for tests and `compressq local`
	_ "gocloud.dev/blob/s3blob"  // s3://bucket?region=…: AWS S3 and S3-compatible stores
)
