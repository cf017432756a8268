"""Review and approval of inputs on the preview site (issue #14): decisions, states, access."""
