package kvstore

import "fmt"

var NoOp = fmt.Errorf("noop")
