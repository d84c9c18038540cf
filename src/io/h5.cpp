#include "io/h5.hpp"

#include <algorithm>
#include <stdexcept>

namespace collapse::io::h5 {

// ---------------------------------------------------------------------------------------------------
// Errors

void silence_error_printing() noexcept { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

namespace {

struct StackWalk {
  std::string innermost;  // first entry walking upward: where the error was detected
  std::string outermost;  // last entry: the API function the caller called
};

herr_t walk_entry(unsigned n, const H5E_error2_t* err, void* data) {
  auto* walk = static_cast<StackWalk*>(data);
  std::string text = (err->desc != nullptr && err->desc[0] != '\0') ? err->desc
                     : (err->func_name != nullptr)                     ? err->func_name
                                                                        : "";
  if (n == 0) walk->innermost = text;
  walk->outermost = text;
  return 0;
}

// "unable to open file: name = 'x', errno = 2, error message = 'No such file or directory', ..."
// → "unable to open file: No such file or directory".
std::string simplify(const std::string& desc) {
  const std::string key = "error message = '";
  const auto at = desc.find(key);
  if (at == std::string::npos) return desc;
  const auto begin = at + key.size();
  const auto end = desc.find('\'', begin);
  const std::string os_message = desc.substr(begin, end == std::string::npos ? end : end - begin);
  const auto head_end = desc.find_first_of(":,");
  const std::string head = desc.substr(0, head_end);
  return head + ": " + os_message;
}

}  // namespace

std::string error_detail() {
  StackWalk walk;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_entry, &walk);
  H5Eclear2(H5E_DEFAULT);
  if (walk.innermost.empty()) return "unknown HDF5 error";
  return simplify(walk.innermost);
}

herr_t check(herr_t status, std::string_view what) {
  if (status < 0) throw std::runtime_error(std::string(what) + ": " + error_detail());
  return status;
}

hid_t check_id(hid_t id, std::string_view what) {
  if (id < 0) throw std::runtime_error(std::string(what) + ": " + error_detail());
  return id;
}

std::string quoted_path(hid_t obj) {
  const bool is_file = H5Iget_type(obj) == H5I_FILE;
  const ssize_t n = is_file ? H5Fget_name(obj, nullptr, 0) : H5Iget_name(obj, nullptr, 0);
  std::vector<char> buf(2 + static_cast<std::size_t>(std::max<ssize_t>(n, 1)) + 1, '\0');
  buf[0] = '\'';
  if (n > 0) {
    if (is_file) {
      H5Fget_name(obj, buf.data() + 1, static_cast<std::size_t>(n) + 1);
    } else {
      H5Iget_name(obj, buf.data() + 1, static_cast<std::size_t>(n) + 1);
    }
  } else {
    buf[1] = '?';
  }
  H5Eclear2(H5E_DEFAULT);
  const std::size_t len = n > 0 ? static_cast<std::size_t>(n) : 1;
  buf[1 + len] = '\'';
  return std::string(buf.data(), len + 2);
}

namespace {
// Path of `name` under `loc`, for messages about objects not yet created.
std::string quoted_child(hid_t loc, const std::string& name) {
  std::string parent = quoted_path(loc);
  parent = parent.substr(1, parent.size() - 2);
  if (parent.empty() || parent.back() != '/') parent += '/';
  return "'" + parent + name + "'";
}
}  // namespace

// ---------------------------------------------------------------------------------------------------
// Types

Datatype vlen_string_type() {
  Datatype t(check_id(H5Tcopy(H5T_C_S1), "cannot copy string type"));
  check(H5Tset_size(t.get(), H5T_VARIABLE), "cannot make a variable-length string type");
  check(H5Tset_cset(t.get(), H5T_CSET_UTF8), "cannot set UTF-8 on a string type");
  return t;
}

Datatype fixed_string_type(std::size_t size) {
  Datatype t(check_id(H5Tcopy(H5T_C_S1), "cannot copy string type"));
  check(H5Tset_size(t.get(), size), "cannot set the size of a string type");
  check(H5Tset_strpad(t.get(), H5T_STR_NULLPAD), "cannot set null padding on a string type");
  return t;
}

// ---------------------------------------------------------------------------------------------------
// Attributes

namespace {

std::string attr_what(const char* verb, hid_t obj, const std::string& name) {
  return std::string("cannot ") + verb + " attribute '" + name + "' of " + quoted_path(obj);
}

Attribute create_attr(hid_t obj, const std::string& name, hid_t type) {
  const htri_t exists = H5Aexists(obj, name.c_str());
  check(exists, attr_what("look up", obj, name));
  if (exists > 0) check(H5Adelete(obj, name.c_str()), attr_what("replace", obj, name));
  Dataspace space(check_id(H5Screate(H5S_SCALAR), "cannot create a scalar dataspace"));
  return Attribute(check_id(H5Acreate2(obj, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                            attr_what("create", obj, name)));
}

// Opens an attribute if present; checks it is a scalar (or a single element).
std::optional<Attribute> open_scalar_attr(hid_t obj, const std::string& name) {
  const htri_t exists = H5Aexists(obj, name.c_str());
  check(exists, attr_what("look up", obj, name));
  if (exists == 0) return std::nullopt;
  Attribute attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), attr_what("open", obj, name)));
  Dataspace space(check_id(H5Aget_space(attr.get()), attr_what("read", obj, name)));
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n != 1) {
    throw std::runtime_error("attribute '" + name + "' of " + quoted_path(obj) + " has " +
                             std::to_string(n) + " elements, but should be a scalar");
  }
  return attr;
}

}  // namespace

void write_string_attr(hid_t obj, const std::string& name, std::string_view value) {
  Datatype type = vlen_string_type();
  Attribute attr = create_attr(obj, name, type.get());
  const std::string copy(value);
  const char* data = copy.c_str();
  check(H5Awrite(attr.get(), type.get(), &data), attr_what("write", obj, name));
}

void write_int_attr(hid_t obj, const std::string& name, std::int32_t value) {
  Attribute attr = create_attr(obj, name, H5T_STD_I32LE);
  check(H5Awrite(attr.get(), H5T_NATIVE_INT32, &value), attr_what("write", obj, name));
}

void write_uint64_attr(hid_t obj, const std::string& name, std::uint64_t value) {
  Attribute attr = create_attr(obj, name, H5T_STD_U64LE);
  check(H5Awrite(attr.get(), H5T_NATIVE_UINT64, &value), attr_what("write", obj, name));
}

std::optional<std::string> read_string_attr(hid_t obj, const std::string& name) {
  auto attr = open_scalar_attr(obj, name);
  if (!attr) return std::nullopt;
  Datatype ftype(check_id(H5Aget_type(attr->get()), attr_what("read", obj, name)));
  if (H5Tget_class(ftype.get()) != H5T_STRING) {
    throw std::runtime_error("attribute '" + name + "' of " + quoted_path(obj) +
                             " is not a string");
  }
  Datatype mtype(check_id(H5Tget_native_type(ftype.get(), H5T_DIR_DEFAULT), attr_what("read", obj, name)));
  const htri_t is_vlen = check(H5Tis_variable_str(ftype.get()), attr_what("read", obj, name));
  if (is_vlen > 0) {
    char* data = nullptr;
    check(H5Aread(attr->get(), mtype.get(), &data), attr_what("read", obj, name));
    std::string out = data != nullptr ? std::string(data) : std::string();
    if (data != nullptr) H5free_memory(data);
    return out;
  }
  const std::size_t size = H5Tget_size(ftype.get());
  std::string out(size, '\0');
  check(H5Aread(attr->get(), mtype.get(), out.data()), attr_what("read", obj, name));
  const auto end = out.find('\0');
  if (end != std::string::npos) out.resize(end);
  while (!out.empty() && out.back() == ' ') out.pop_back();  // H5T_STR_SPACEPAD
  return out;
}

std::optional<std::int64_t> read_int_attr(hid_t obj, const std::string& name) {
  auto attr = open_scalar_attr(obj, name);
  if (!attr) return std::nullopt;
  Datatype ftype(check_id(H5Aget_type(attr->get()), attr_what("read", obj, name)));
  if (H5Tget_class(ftype.get()) != H5T_INTEGER) {
    throw std::runtime_error("attribute '" + name + "' of " + quoted_path(obj) +
                             " is not an integer");
  }
  std::int64_t value = 0;
  check(H5Aread(attr->get(), H5T_NATIVE_INT64, &value), attr_what("read", obj, name));
  return value;
}

std::optional<std::uint64_t> read_uint64_attr(hid_t obj, const std::string& name) {
  auto attr = open_scalar_attr(obj, name);
  if (!attr) return std::nullopt;
  Datatype ftype(check_id(H5Aget_type(attr->get()), attr_what("read", obj, name)));
  if (H5Tget_class(ftype.get()) != H5T_INTEGER) {
    throw std::runtime_error("attribute '" + name + "' of " + quoted_path(obj) + " is not an integer");
  }
  if (H5Tget_sign(ftype.get()) == H5T_SGN_2) {
    std::int64_t signed_value = 0;
    check(H5Aread(attr->get(), H5T_NATIVE_INT64, &signed_value), attr_what("read", obj, name));
    if (signed_value < 0) {
      throw std::runtime_error("attribute '" + name + "' of " + quoted_path(obj) + " is " +
                               std::to_string(signed_value) + ", but should be ≥ 0");
    }
    return static_cast<std::uint64_t>(signed_value);
  }
  std::uint64_t value = 0;
  check(H5Aread(attr->get(), H5T_NATIVE_UINT64, &value), attr_what("read", obj, name));
  return value;
}

namespace {
herr_t collect_attr_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> attribute_names(hid_t obj) {
  std::vector<std::string> names;
  hsize_t idx = 0;
  check(H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr_name, &names),
        "cannot list the attributes of " + quoted_path(obj));
  return names;
}

// ---------------------------------------------------------------------------------------------------
// Datasets

bool gzip_available() noexcept {
  if (H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) return false;
  unsigned config = 0;
  if (H5Zget_filter_info(H5Z_FILTER_DEFLATE, &config) < 0) return false;
  return (config & H5Z_FILTER_CONFIG_ENCODE_ENABLED) != 0;
}

Dataset create_extendible(hid_t loc, const std::string& name, hid_t file_type,
                          std::span<const hsize_t> inner_dims, const ExtendibleOptions& options) {
  const std::string what = "cannot create dataset " + quoted_child(loc, name);
  const std::size_t rank = 1 + inner_dims.size();
  std::vector<hsize_t> dims(rank, 0), maxdims(rank, H5S_UNLIMITED), chunk(rank, 1);
  chunk[0] = std::max<std::uint64_t>(1, options.chunk_rows);
  for (std::size_t i = 1; i < rank; ++i) {
    dims[i] = inner_dims[i - 1];
    maxdims[i] = dims[i] == 0 ? H5S_UNLIMITED : dims[i];
    chunk[i] = std::max<hsize_t>(1, dims[i]);
  }
  // Keep a chunk near 1 MiB at most: first one row, then split the leading inner axes.
  constexpr hsize_t kMaxChunkBytes = hsize_t{1} << 20;
  const hsize_t elem = std::max<std::size_t>(1, H5Tget_size(file_type));
  auto bytes_after = [&](std::size_t axis) {  // bytes of one chunk slab after `axis`
    hsize_t b = elem;
    for (std::size_t j = axis + 1; j < rank; ++j) b *= chunk[j];
    return b;
  };
  if (chunk[0] * bytes_after(0) > kMaxChunkBytes) chunk[0] = std::max<hsize_t>(1, kMaxChunkBytes / bytes_after(0));
  for (std::size_t i = 1; i < rank; ++i) {
    const hsize_t rest = bytes_after(i);
    if (chunk[i] * rest > kMaxChunkBytes) chunk[i] = std::max<hsize_t>(1, kMaxChunkBytes / rest);
  }

  Dataspace space(check_id(H5Screate_simple(static_cast<int>(rank), dims.data(), maxdims.data()), what));
  PropList dcpl(check_id(H5Pcreate(H5P_DATASET_CREATE), what));
  check(H5Pset_chunk(dcpl.get(), static_cast<int>(rank), chunk.data()), what);
  if (options.gzip_level > 0 && gzip_available()) {
    if (options.shuffle) check(H5Pset_shuffle(dcpl.get()), what);
    check(H5Pset_deflate(dcpl.get(), static_cast<unsigned>(options.gzip_level)), what);
  }
  if (options.fill_double != nullptr) {
    check(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, options.fill_double), what);
  }
  return Dataset(check_id(
      H5Dcreate2(loc, name.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), what));
}

std::vector<hsize_t> dataset_dims(hid_t dset) {
  const std::string what = "cannot read the shape of dataset " + quoted_path(dset);
  Dataspace space(check_id(H5Dget_space(dset), what));
  const int rank = check(H5Sget_simple_extent_ndims(space.get()), what);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), what);
  return dims;
}

namespace {
// Selects rows [first, first + rows) × all inner elements in `file_space`; returns the memory space.
Dataspace select_rows(hid_t file_space, const std::vector<hsize_t>& dims, hsize_t first, hsize_t rows,
                      const std::string& what) {
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  start[0] = first;
  count[0] = rows;
  check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), what);
  return Dataspace(check_id(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr), what));
}

bool has_zero_inner(const std::vector<hsize_t>& dims) {
  return std::any_of(dims.begin() + 1, dims.end(), [](hsize_t d) { return d == 0; });
}
}  // namespace

PropList small_transfer_plist(std::size_t bytes) {
  PropList dxpl(check_id(H5Pcreate(H5P_DATASET_XFER), "cannot create a transfer property list"));
  check(H5Pset_buffer(dxpl.get(), bytes, nullptr, nullptr), "cannot set the type-conversion buffer size");
  return dxpl;
}

hsize_t append_rows(hid_t dset, hid_t mem_type, hsize_t rows, const void* buffer, hid_t dxpl) {
  std::vector<hsize_t> dims = dataset_dims(dset);
  if (rows == 0) return dims.empty() ? 0 : dims[0];
  const std::string what = "cannot append to dataset " + quoted_path(dset);
  const hsize_t first = dims[0];
  dims[0] += rows;
  check(H5Dset_extent(dset, dims.data()), what);
  if (has_zero_inner(dims)) return dims[0];
  Dataspace fspace(check_id(H5Dget_space(dset), what));
  Dataspace mspace = select_rows(fspace.get(), dims, first, rows, what);
  check(H5Dwrite(dset, mem_type, mspace.get(), fspace.get(), dxpl, buffer), what);
  return dims[0];
}

void read_rows(hid_t dset, hid_t mem_type, hsize_t rows, void* buffer) { read_rows(dset, mem_type, 0, rows, buffer); }

void read_rows(hid_t dset, hid_t mem_type, hsize_t first, hsize_t rows, void* buffer) {
  const std::vector<hsize_t> dims = dataset_dims(dset);
  const std::string what = "cannot read dataset " + quoted_path(dset);
  const hsize_t have = dims.empty() ? 0 : dims[0];
  if (dims.empty() || have < first + rows) {
    throw std::runtime_error(what + ": it has " + std::to_string(have) + " rows, but " +
                             (first == 0 ? std::to_string(rows) + " were expected"
                                         : "rows " + std::to_string(first) + " to " + std::to_string(first + rows) +
                                               " (exclusive) were requested"));
  }
  if (rows == 0 || has_zero_inner(dims)) return;
  Dataspace fspace(check_id(H5Dget_space(dset), what));
  Dataspace mspace = select_rows(fspace.get(), dims, first, rows, what);
  check(H5Dread(dset, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, buffer), what);
}

void set_rows(hid_t dset, hsize_t rows) {
  std::vector<hsize_t> dims = dataset_dims(dset);
  const std::string what = "cannot resize dataset " + quoted_path(dset) + " to " + std::to_string(rows) + " rows";
  if (dims.empty()) throw std::runtime_error(what + ": it is a scalar");
  dims[0] = rows;
  check(H5Dset_extent(dset, dims.data()), what);
}

hsize_t chunk_rows(hid_t dset) {
  const std::string what = "cannot read the chunk shape of dataset " + quoted_path(dset);
  PropList dcpl(check_id(H5Dget_create_plist(dset), what));
  if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return 1;
  hsize_t chunk[H5S_MAX_RANK];
  const int rank = check(H5Pget_chunk(dcpl.get(), H5S_MAX_RANK, chunk), what);
  return rank > 0 ? std::max<hsize_t>(1, chunk[0]) : 1;
}

void reclaim_vlen(hid_t mem_type, hsize_t rows, void* buffer) noexcept {
  if (rows == 0) return;
  Dataspace space(H5Screate_simple(1, &rows, nullptr));
  if (space) H5Dvlen_reclaim(mem_type, space.get(), H5P_DEFAULT, buffer);
  H5Eclear2(H5E_DEFAULT);
}

namespace {
herr_t collect_link_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> link_names(hid_t group) {
  const std::string what = "cannot list group " + quoted_path(group);
  H5_index_t index = H5_INDEX_NAME;
  {
    PropList gcpl(check_id(H5Gget_create_plist(group), what));
    unsigned flags = 0;
    if (H5Pget_link_creation_order(gcpl.get(), &flags) >= 0 && (flags & H5P_CRT_ORDER_INDEXED) != 0) {
      index = H5_INDEX_CRT_ORDER;
    }
    H5Eclear2(H5E_DEFAULT);
  }
  std::vector<std::string> names;
  hsize_t idx = 0;
  check(H5Literate(group, index, H5_ITER_INC, &idx, collect_link_name, &names), what);
  return names;
}

bool link_exists(hid_t loc, const std::string& name) {
  const htri_t r = H5Lexists(loc, name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

Dataset open_dataset(hid_t loc, const std::string& path) {
  return Dataset(check_id(H5Dopen2(loc, path.c_str(), H5P_DEFAULT), "cannot open '/" + path + "'"));
}

}  // namespace collapse::io::h5
