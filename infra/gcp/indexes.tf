# The composite indexes the Firestore store's queries need (launchq.adapters.stores.firestore):
# the claim's ordered line, listings by queue and/or state newest first, a run's events in
# order, a job's versions newest first. Slots, queues, schedules and keys need only
# Firestore's automatic single-field indexes. tests/unit/test_gcp_infra.py checks this list
# against the store's.
locals {
  indexes = {
    runs_line = {
      collection = "runs"
      fields     = [["queue", "ASCENDING"], ["state", "ASCENDING"], ["priority", "ASCENDING"], ["seq", "ASCENDING"], ["__name__", "ASCENDING"]]
    }
    runs_by_queue = {
      collection = "runs"
      fields     = [["queue", "ASCENDING"], ["seq", "DESCENDING"]]
    }
    runs_by_state = {
      collection = "runs"
      fields     = [["state", "ASCENDING"], ["seq", "DESCENDING"]]
    }
    runs_by_queue_state = {
      collection = "runs"
      fields     = [["queue", "ASCENDING"], ["state", "ASCENDING"], ["seq", "DESCENDING"]]
    }
    events_of_run = {
      collection = "events"
      fields     = [["run_id", "ASCENDING"], ["version", "ASCENDING"]]
    }
    job_versions = {
      collection = "jobs"
      fields     = [["name", "ASCENDING"], ["version", "DESCENDING"]]
    }
  }
}

resource "google_firestore_index" "launchq" {
  for_each   = local.indexes
  project    = var.project
  database   = google_firestore_database.launchq.name
  collection = "${var.collection_prefix}_${each.value.collection}"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value[0]
      order      = fields.value[1]
    }
  }
}
