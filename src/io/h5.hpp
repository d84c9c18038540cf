#pragma once
// Thin RAII layer over the HDF5 1.10 C API. Private to the io module: nothing outside src/io includes
// this header (DESIGN.md §1, "the only code that includes HDF5").
//
// Conventions:
//   - Every hid_t we own lives in a Handle<Close>, which is move-only and closes the id exactly once.
//   - Every HDF5 call whose failure matters goes through check() / check_id(), which turn a negative
//     return into std::runtime_error("<what>: <detail from the HDF5 error stack>"). `what` names the
//     operation and the object path, e.g. "cannot extend dataset '/metrics/kl'".
//   - HDF5's automatic error printing is switched off (silence_error_printing()) by every public entry
//     point of the io module, so the error stack only reaches the user through our messages.

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace collapse::io::h5 {

/// Owns one HDF5 identifier and releases it with `Close` (H5Fclose, H5Dclose, ...). Move-only.
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() noexcept = default;
  /// Takes ownership of `id` (which may be invalid, i.e. negative: then the handle is empty).
  explicit Handle(hid_t id) noexcept : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t get() const noexcept { return id_; }
  explicit operator bool() const noexcept { return id_ >= 0; }

  /// Closes the id (if any), ignoring errors: for destructors and error paths.
  void reset() noexcept {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }
  /// Closes the id (if any) and reports failure. @throws std::runtime_error "<what>: <detail>".
  void close(std::string_view what);

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Dataspace = Handle<H5Sclose>;
using Datatype = Handle<H5Tclose>;
using Attribute = Handle<H5Aclose>;
using PropList = Handle<H5Pclose>;

// ---------------------------------------------------------------------------------------------------
// Errors

/// Turns off HDF5's automatic printing of its error stack to stderr (for the calling thread).
void silence_error_printing() noexcept;

/// The most useful text on the current HDF5 error stack (the innermost description, and the OS error
/// message when HDF5 reports one), then clears the stack. "unknown HDF5 error" when the stack is empty.
std::string error_detail();

/// @return `status` when ≥ 0. @throws std::runtime_error "<what>: <error_detail()>" when negative.
herr_t check(herr_t status, std::string_view what);
/// @return `id` when valid (≥ 0). @throws std::runtime_error "<what>: <error_detail()>" otherwise.
hid_t check_id(hid_t id, std::string_view what);

/// "'<path>'" of an object, e.g. "'/metrics/kl'", for error messages ("'?'" if unknown).
std::string quoted_path(hid_t obj);

/// Opens the dataset at `path` relative to `loc` (a file or group).
/// @throws std::runtime_error "cannot open '/<path>': <error_detail()>".
Dataset open_dataset(hid_t loc, const std::string& path);

template <herr_t (*Close)(hid_t)>
void Handle<Close>::close(std::string_view what) {
  if (id_ < 0) return;
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  check(Close(id), what);
}

// ---------------------------------------------------------------------------------------------------
// Types

/// Variable-length, UTF-8, null-terminated string type (h5py reads it as `str`).
Datatype vlen_string_type();
/// Fixed-length ASCII string of `size` bytes, null-padded (h5py reads it as `bytes`).
Datatype fixed_string_type(std::size_t size);

// ---------------------------------------------------------------------------------------------------
// Attributes (scalar)

/// Writes (creating or replacing) a scalar variable-length UTF-8 string attribute on `obj`.
/// @throws std::runtime_error naming the object path and attribute.
void write_string_attr(hid_t obj, const std::string& name, std::string_view value);
/// Writes (creating or replacing) a scalar int32 attribute on `obj`.
void write_int_attr(hid_t obj, const std::string& name, std::int32_t value);
/// Writes (creating or replacing) a scalar uint64 attribute on `obj` (stored as H5T_STD_U64LE).
void write_uint64_attr(hid_t obj, const std::string& name, std::uint64_t value);
/// Reads a scalar string attribute (variable- or fixed-length). @return nullopt when absent.
/// @throws std::runtime_error when present but not a scalar string, or unreadable.
std::optional<std::string> read_string_attr(hid_t obj, const std::string& name);
/// Reads a scalar integer attribute as int64. @return nullopt when absent.
/// @throws std::runtime_error when present but not a scalar integer, or unreadable.
std::optional<std::int64_t> read_int_attr(hid_t obj, const std::string& name);
/// Reads a scalar non-negative integer attribute as uint64. @return nullopt when absent.
/// @throws std::runtime_error when present but not a scalar integer, negative, or unreadable.
std::optional<std::uint64_t> read_uint64_attr(hid_t obj, const std::string& name);
/// Names of all attributes of `obj`, in name order.
std::vector<std::string> attribute_names(hid_t obj);

// ---------------------------------------------------------------------------------------------------
// Datasets

/// Options for create_extendible().
struct ExtendibleOptions {
  std::uint64_t chunk_rows = 64;     ///< chunk length along the first (run) axis; ≥ 1
  int gzip_level = 4;                ///< deflate level 1..9; 0 = no compression. Skipped silently if
                                     ///< the deflate filter is unavailable in this HDF5 build.
  bool shuffle = false;              ///< byte-shuffle before deflate (helps float64 compress)
  const double* fill_double = nullptr;  ///< fill value for a float64 dataset (e.g. NaN); null = default
};

/// True when the deflate (gzip) filter is available for encoding.
bool gzip_available() noexcept;

/// Creates an empty chunked dataset `name` under `loc` with dims [0 × inner...], extendible without
/// bound along axis 0. Chunk: [chunk_rows × inner...], except that an axis of more than 1 MiB per row is
/// split so one chunk stays near 1 MiB, and a zero-length inner axis gets chunk length 1 (and is then
/// itself extendible, since HDF5 requires chunk ≤ maximum extent).
/// @param file_type  datatype as stored.
/// @throws std::runtime_error naming the dataset path.
Dataset create_extendible(hid_t loc, const std::string& name, hid_t file_type,
                          std::span<const hsize_t> inner_dims, const ExtendibleOptions& options);

/// Current dimensions of a dataset.
std::vector<hsize_t> dataset_dims(hid_t dset);

/// Appends `rows` rows along axis 0: extends the dataset by `rows` and writes `buffer` (rows × inner
/// elements of `mem_type`, row-major) into the new rows. No-op for rows = 0.
/// @param dxpl  transfer property list, e.g. small_transfer_plist() for frequent small writes.
/// @return the new length of axis 0. @throws std::runtime_error naming the dataset path.
hsize_t append_rows(hid_t dset, hid_t mem_type, hsize_t rows, const void* buffer, hid_t dxpl = H5P_DEFAULT);

/// A transfer property list whose type-conversion buffers are `bytes` long instead of HDF5's 1 MiB.
/// HDF5 allocates (and zeroes) those buffers on every H5Dwrite that converts types (compound rows,
/// variable-length strings); at 1 MiB they come from fresh mmap'd pages each time, which costs far more
/// than writing a small row. The buffer must hold at least one element of the dataset's type.
PropList small_transfer_plist(std::size_t bytes);

/// Reads rows [0, rows) of a dataset whose element type converts to `mem_type` into `buffer` (which
/// must hold rows × inner elements). @throws std::runtime_error naming the dataset path.
void read_rows(hid_t dset, hid_t mem_type, hsize_t rows, void* buffer);

/// Reads rows [first, first + rows) of a dataset into `buffer` (rows × inner elements of `mem_type`).
/// @throws std::runtime_error naming the dataset path, also when the dataset has fewer rows.
void read_rows(hid_t dset, hid_t mem_type, hsize_t first, hsize_t rows, void* buffer);

/// Sets the length of axis 0 (H5Dset_extent; other axes unchanged). Shrinking drops the rows at and
/// after `rows`: chunks wholly beyond the new end are freed, the tail of a partly kept chunk is reset to
/// the fill value. @throws std::runtime_error naming the dataset path.
void set_rows(hid_t dset, hsize_t rows);

/// Chunk length along axis 0 of a chunked dataset (1 if the dataset is not chunked).
hsize_t chunk_rows(hid_t dset);

/// Frees the variable-length data HDF5 allocated while reading `rows` elements of `mem_type`.
void reclaim_vlen(hid_t mem_type, hsize_t rows, void* buffer) noexcept;

/// Names of the links in a group: in creation order when the group tracks it, else in name order.
std::vector<std::string> link_names(hid_t group);

/// True when `name` is a link in `loc` (no error if absent).
bool link_exists(hid_t loc, const std::string& name);

}  // namespace collapse::io::h5
