# The stack: APIs, the Firestore database, the doorbell and tick topics with their push
# subscriptions (and a dead-letter topic), the Cloud Scheduler job, the log sink that turns
# Vertex AI job state changes into events, the buckets.

locals {
  apis = [
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com", # builds the functions' containers (not launchq's images)
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "storage.googleapis.com",
  ]
  builds  = var.image_repository != "" && var.build_cluster != ""
  kms_key = var.kms_key == "" ? null : var.kms_key
  # What the vertex_jobs log sink routes to target_events (see "Vertex AI job state changes" below).
  vertex_job_filter = join(" OR ", [
    "(resource.type=\"ml_job\" AND logName:\"/logs/ml.googleapis.com%2F\")",
    "(logName:\"/logs/cloudaudit.googleapis.com%2Factivity\" AND protoPayload.serviceName=\"aiplatform.googleapis.com\" AND protoPayload.methodName:(\"CancelCustomJob\" OR \"DeleteCustomJob\"))",
  ])
}

resource "google_project_service" "apis" {
  for_each           = toset(local.apis)
  project            = var.project
  service            = each.value
  disable_on_destroy = false
}

data "google_project" "this" {
  project_id = var.project
}

# -- state -------------------------------------------------------------------------------
resource "google_firestore_database" "launchq" {
  project                           = var.project
  name                              = var.firestore_database
  location_id                       = var.region
  type                              = "FIRESTORE_NATIVE"
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  depends_on                        = [google_project_service.apis]
}

# -- the doorbell: enqueue -> topic -> push subscription -> dispatcher ------------------------
resource "google_pubsub_topic" "doorbell" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption by default; set kms_key for a customer-managed key
  kms_key_name               = local.kms_key
  name                       = "${var.name}-doorbell"
  message_retention_duration = "86400s"
  depends_on                 = [google_project_service.apis]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption by default; set kms_key for a customer-managed key
  kms_key_name               = local.kms_key
  name                       = "${var.name}-dead-letter"
  message_retention_duration = "1209600s" # 14 days, as the AWS stack keeps failed events
  depends_on                 = [google_project_service.apis]
}

# What lands in the dead-letter topic stays readable: `gcloud pubsub subscriptions pull`.
resource "google_pubsub_subscription" "dead_letter" {
  name                       = "${var.name}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  message_retention_duration = "1209600s"
  ack_deadline_seconds       = 60
  expiration_policy {
    ttl = ""
  }
}

# A push subscription rather than an Eventarc trigger: only a subscription of our own takes a
# dead-letter policy. functions-framework turns the raw push body into the messagePublished
# CloudEvent the function is written for.
resource "google_pubsub_subscription" "dispatcher" {
  name                 = "${var.name}-dispatcher"
  topic                = google_pubsub_topic.doorbell.id
  ack_deadline_seconds = 90 # > the dispatcher's 60 s timeout
  push_config {
    push_endpoint = google_cloudfunctions2_function.launchq["dispatcher"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
    }
  }
  retry_policy {
    minimum_backoff = "5s"
    maximum_backoff = "300s"
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }
  expiration_policy {
    ttl = ""
  }
}

# -- the reconciler's minute: Cloud Scheduler -> tick topic -> push subscription ------------
resource "google_pubsub_topic" "tick" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption by default; set kms_key for a customer-managed key
  kms_key_name               = local.kms_key
  name                       = "${var.name}-reconcile-tick"
  message_retention_duration = "600s"
  depends_on                 = [google_project_service.apis]
}

resource "google_pubsub_subscription" "reconciler" {
  name                       = "${var.name}-reconciler"
  topic                      = google_pubsub_topic.tick.id
  ack_deadline_seconds       = 90
  message_retention_duration = "600s" # a tick missed for ten minutes is superseded by the next
  push_config {
    push_endpoint = google_cloudfunctions2_function.launchq["reconciler"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
    }
  }
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = 5
  }
  expiration_policy {
    ttl = ""
  }
}

resource "google_cloud_scheduler_job" "reconcile" {
  name      = "${var.name}-reconcile"
  region    = var.region
  schedule  = "* * * * *"
  time_zone = "Etc/UTC"
  pubsub_target {
    topic_name = google_pubsub_topic.tick.id
    data       = base64encode("{}")
  }
  depends_on = [google_project_service.apis]
}

# -- Vertex AI job state changes: log sink -> topic -> push subscription -> target_events ------
# Vertex AI publishes no state-change events; it writes its own messages about a custom job
# ("Job completed successfully.", "Job failed.", ...) to the log ml.googleapis.com%2F<job id>
# (resource.type ml_job), beside the replicas' output (logs workerpool<i>-<j>, left out here:
# a chatty job would cost a call per line). Cancels and deletes (the console's too) come from
# the Admin Activity audit log. launchq.gcp.events reads either; each is a hint to reconcile
# that job's run at once. The reconciler's minute poll stays the fallback.
resource "google_pubsub_topic" "target_events" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption by default; set kms_key for a customer-managed key
  kms_key_name               = local.kms_key
  name                       = "${var.name}-target-events"
  message_retention_duration = "600s"
  depends_on                 = [google_project_service.apis]
}

resource "google_logging_project_sink" "vertex_jobs" {
  name                   = "${var.name}-vertex-jobs"
  destination            = "pubsub.googleapis.com/${google_pubsub_topic.target_events.id}"
  filter                 = local.vertex_job_filter
  unique_writer_identity = true
}

# No dead-letter policy on purpose: an entry only says "look at this job now". Malformed or
# foreign entries are acknowledged by the function; one that fails on a backend error is
# retried with back-off for the ten minutes it is kept, by which time the reconciler has
# polled the job several times (a dead-letter topic would only collect stale hints).
resource "google_pubsub_subscription" "target_events" {
  name                       = "${var.name}-target-events"
  topic                      = google_pubsub_topic.target_events.id
  ack_deadline_seconds       = 90 # > the function's 60 s timeout
  message_retention_duration = "600s"
  push_config {
    push_endpoint = google_cloudfunctions2_function.launchq["target_events"].service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
    }
  }
  retry_policy {
    minimum_backoff = "5s"
    maximum_backoff = "60s"
  }
  expiration_policy {
    ttl = ""
  }
}

# -- where Vertex AI jobs write (base_output_dir defaults under it) --------------------------
resource "google_storage_bucket" "staging" {
  name                        = "${var.project}-${var.name}-staging"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }
  versioning {
    enabled = true
  }
}

# -- build contexts for Kaniko, when images are built from code -------------------------------
resource "google_storage_bucket" "build_contexts" {
  count                       = local.builds ? 1 : 0
  name                        = "${var.project}-${var.name}-build-contexts"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }
  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }
}

# -- uploaded code (`launchq code push`): code/<sha256>.tar.gz, content-addressed ---------------
resource "google_storage_bucket" "code" {
  #checkov:skip=CKV_GCP_78:content-addressed objects are never overwritten; versioning would only keep what the lifecycle rule deletes
  name                        = "${var.project}-${var.name}-code"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = false
  }
  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }
  # An archive is deleted code_retention_days after its first upload (a push of the same
  # content meanwhile finds it and sends nothing); 0 keeps uploads for good.
  dynamic "lifecycle_rule" {
    for_each = var.code_retention_days > 0 ? [var.code_retention_days] : []
    content {
      condition {
        age            = lifecycle_rule.value
        matches_prefix = ["code/"]
      }
      action {
        type = "Delete"
      }
    }
  }
}

# -- access logs of the buckets above (kept log_retention_days) -----------------------------
resource "google_storage_bucket" "access_logs" {
  #checkov:skip=CKV_GCP_62:the access-log bucket does not log its own access
  name                        = "${var.project}-${var.name}-access-logs"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
  lifecycle_rule {
    condition {
      age = var.log_retention_days
    }
    action {
      type = "Delete"
    }
  }
}
