"""Where citizens' photos, voice notes and documents are kept, privately (issue 20).

`port.MediaStore` is the contract; `local.LocalMediaStore` keeps files under
`KMC_DATA_DIR/media/` (served by `serve` at /media/... behind the admin login);
`gcs.GcsMediaStore` keeps them in a Cloud Storage bucket through the JSON API and links them with
the authenticated-browser address that only accounts given read access can open."""
