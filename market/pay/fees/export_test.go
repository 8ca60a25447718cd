package fees

// SetStepHook sets the crash-test hook: fn is called at each step of a
// charge; an error stops the charge there.
func SetStepHook(c *Collector, fn func(step string) error) { c.cfg.StepHook = fn }
