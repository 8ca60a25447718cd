package nwc

import "context"

// Call sends one request of any method (the Client has wrappers only for
// the methods the service implements), for tests of the service's answers.
func (c *Client) Call(ctx context.Context, method string, params, out any) error {
	return c.call(ctx, method, params, out)
}
