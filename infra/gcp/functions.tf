# The four Cloud Functions (2nd gen) of functions/gcp/main.py, from one source archive.

data "archive_file" "source" {
  type        = "zip"
  source_dir  = var.source_dir
  output_path = "${path.module}/.terraform/${var.name}-functions.zip"
}

resource "google_storage_bucket" "source" {
  name                        = "${var.project}-${var.name}-functions"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  versioning {
    enabled = true
  }
  logging {
    log_bucket = google_storage_bucket.access_logs.name
  }
}

resource "google_storage_bucket_object" "source" {
  name   = "functions-${data.archive_file.source.output_sha256}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

locals {
  environment = merge(
    {
      LAUNCHQ_GCP_PROJECT           = var.project
      LAUNCHQ_REGION                = var.region
      LAUNCHQ_FIRESTORE_DATABASE    = google_firestore_database.launchq.name
      LAUNCHQ_COLLECTION_PREFIX     = var.collection_prefix
      LAUNCHQ_DOORBELL_TOPIC        = google_pubsub_topic.doorbell.id
      LAUNCHQ_TARGETS               = join(",", var.targets)
      LAUNCHQ_VERTEX_STAGING_BUCKET = "gs://${google_storage_bucket.staging.name}"
      LAUNCHQ_ENTITY                = var.entity
      LAUNCHQ_CODE_BUCKET           = google_storage_bucket.code.name
    },
    local.builds ? {
      LAUNCHQ_IMAGE_REPOSITORY    = "${var.region}-docker.pkg.dev/${var.project}/${var.image_repository}"
      LAUNCHQ_BUILD_CLUSTER       = var.build_cluster
      LAUNCHQ_BUILD_CONTEXT_STORE = "gs://${google_storage_bucket.build_contexts[0].name}/contexts/"
    } : {},
  )
  functions = {
    api        = { sa = google_service_account.api.email, timeout = 60, max = var.api_max_instances, concurrency = 8, memory = "1Gi", ingress = "ALLOW_ALL" }
    dispatcher = { sa = google_service_account.dispatcher.email, timeout = 60, max = var.dispatcher_max_instances, concurrency = 1, memory = "512Mi", ingress = "ALLOW_INTERNAL_ONLY" }
    reconciler = { sa = google_service_account.reconciler.email, timeout = 120, max = 1, concurrency = 1, memory = "512Mi", ingress = "ALLOW_INTERNAL_ONLY" }
    # Vertex AI job log entries: one run reconciled per entry (a GetCustomJob and a few store calls)
    target_events = { sa = google_service_account.events.email, timeout = 60, max = var.events_max_instances, concurrency = 1, memory = "512Mi", ingress = "ALLOW_INTERNAL_ONLY" }
  }
}

# One resource for the four: each function's entry point is its key in local.functions (its
# name the key with hyphens: Cloud Run service names take no underscore).
resource "google_cloudfunctions2_function" "launchq" {
  #checkov:skip=CKV_GCP_124:the API is for callers outside the project; IAM (roles/run.invoker, api_invokers) guards it
  for_each = local.functions
  name     = "${var.name}-${replace(each.key, "_", "-")}"
  location = var.region
  build_config {
    runtime     = "python311"
    entry_point = each.key
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }
  service_config {
    service_account_email            = each.value.sa
    timeout_seconds                  = each.value.timeout
    max_instance_count               = each.value.max
    max_instance_request_concurrency = each.value.concurrency
    available_cpu                    = "1"
    available_memory                 = each.value.memory
    ingress_settings                 = each.value.ingress
    environment_variables            = local.environment
  }
  depends_on = [google_project_service.apis]
}

output "api_url" {
  description = "LAUNCHQ_URL: the HTTP function's URL."
  value       = google_cloudfunctions2_function.launchq["api"].service_config[0].uri
}

output "training_service_account" {
  description = "Put it in a Vertex AI queue's config: run.service_account."
  value       = google_service_account.training.email
}

output "code_bucket" {
  description = "Where `launchq code push` uploads go (code/<sha256>.tar.gz)."
  value       = "gs://${google_storage_bucket.code.name}"
}

output "staging_bucket" {
  value = "gs://${google_storage_bucket.staging.name}"
}
