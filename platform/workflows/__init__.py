"""State machines for entities with a workflow, SLA on business calendars, assignment."""
