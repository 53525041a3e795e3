"""One route table per resource."""
