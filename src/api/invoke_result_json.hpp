#pragma once
// The success body of an invoke: {"status":<int>,"payload":<device JSON>}.

#include <string>
#include <string_view>

namespace hub::api {

/// Builds `{"status":<status>,"payload":<payload>}`. The device's body is spliced in byte for
/// byte when it is valid JSON (never re-serialized); an empty body becomes `null` (the C service
/// SDK needs the key present, spec/protocol.md §1.6). A body that is not JSON is answered as a
/// JSON string holding the device's text (invalid UTF-8 replaced by U+FFFD): the method ran and
/// the device chose a status, so the caller gets both rather than an error that hides them.
std::string invoke_result_json(int status, std::string_view device_payload);

}  // namespace hub::api
