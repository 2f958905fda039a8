/*
 * A fake libnvidia-ml.so.1 for ptenv's tests: it simulates NVIDIA hardware this machine does
 * not have. It is the only stand-in ptenv's tests use; everything else is real.
 *
 * It implements the NVML entry points that nvml-wrapper 0.13 calls for ptenv (nvml-wrapper
 * resolves every symbol at load time but fails only when a missing one is called; its Drop
 * always calls nvmlShutdown):
 *   nvmlInit_v2, nvmlInit, nvmlInitWithFlags, nvmlShutdown, nvmlErrorString,
 *   nvmlSystemGetDriverVersion, nvmlSystemGetNVMLVersion, nvmlSystemGetCudaDriverVersion(_v2),
 *   nvmlDeviceGetCount(_v2), nvmlDeviceGetHandleByIndex(_v2), nvmlDeviceGetIndex,
 *   nvmlDeviceGetName, nvmlDeviceGetUUID, nvmlDeviceGetCudaComputeCapability,
 *   nvmlDeviceGetMemoryInfo(_v2), nvmlDeviceGetArchitecture, nvmlDeviceGetUtilizationRates,
 *   nvmlDeviceGetComputeRunningProcesses_v3.
 *
 * The machine it pretends to be is read at every init from the file named by the environment
 * variable PTENV_FAKE_NVML_SCENARIO, one statement per line ('#' starts a comment):
 *
 *   driver 550.54.15          nvmlSystemGetDriverVersion
 *   cuda 12040                nvmlSystemGetCudaDriverVersion(_v2): 1000*major + 10*minor.
 *                             Without this line the _v2 call fails with
 *                             NVML_ERROR_LIBRARY_NOT_FOUND (no libcuda), as on a real host.
 *   init_error NAME           nvmlInit* fails with NVML_ERROR_<NAME>: DRIVER_NOT_LOADED,
 *                             NO_PERMISSION, LIB_RM_VERSION_MISMATCH, UNKNOWN (or any name
 *                             below)
 *   gpu CC MEMORY UUID ARCH NAME...
 *                             one GPU, in index order: compute capability (8.6), total memory
 *                             in bytes, UUID (GPU-...), architecture (KEPLER MAXWELL PASCAL
 *                             VOLTA TURING AMPERE ADA HOPPER BLACKWELL UNKNOWN), and the
 *                             marketing name, which may contain spaces
 *   gpu_error INDEX NAME      nvmlDeviceGetHandleByIndex(INDEX) fails with NVML_ERROR_<NAME>
 *                             (e.g. GPU_IS_LOST)
 *   load INDEX GPU% MEM%      nvmlDeviceGetUtilizationRates of GPU INDEX (0 without this line)
 *   process INDEX PID BYTES   a compute process on GPU INDEX with BYTES of its memory, listed
 *                             by nvmlDeviceGetComputeRunningProcesses_v3; the GPU's used
 *                             memory (nvmlDeviceGetMemoryInfo) is the sum of its processes'
 *
 * Without PTENV_FAKE_NVML_SCENARIO the library reads /etc/ptenv-fake-nvml/scenario if it
 * exists (what the test bed's stand-in NVIDIA hook gives a GPU container), else it behaves like
 * an installed NVML on a machine whose kernel module is not loaded: init fails with NVML_ERROR_DRIVER_NOT_LOADED. A scenario
 * that cannot be read or parsed makes init fail with NVML_ERROR_UNKNOWN and a message on
 * stderr, so a broken test fails loudly instead of passing for the wrong reason.
 *
 * Built by tests/nvml/build.sh.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTAINER_SCENARIO "/etc/ptenv-fake-nvml/scenario"

typedef int nvmlReturn_t;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_NO_PERMISSION = 4,
    NVML_ERROR_NOT_FOUND = 6,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVML_ERROR_TIMEOUT = 10,
    NVML_ERROR_LIBRARY_NOT_FOUND = 12,
    NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVML_ERROR_GPU_IS_LOST = 15,
    NVML_ERROR_OPERATING_SYSTEM = 17,
    NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVML_ERROR_UNKNOWN = 999,
};

static const struct {
    const char *name;
    nvmlReturn_t code;
    const char *text; /* nvmlErrorString's wording */
} ERRORS[] = {
    {"SUCCESS", NVML_SUCCESS, "Success"},
    {"UNINITIALIZED", NVML_ERROR_UNINITIALIZED, "Uninitialized"},
    {"INVALID_ARGUMENT", NVML_ERROR_INVALID_ARGUMENT, "Invalid Argument"},
    {"NOT_SUPPORTED", NVML_ERROR_NOT_SUPPORTED, "Not Supported"},
    {"NO_PERMISSION", NVML_ERROR_NO_PERMISSION, "Insufficient Permissions"},
    {"NOT_FOUND", NVML_ERROR_NOT_FOUND, "Not Found"},
    {"INSUFFICIENT_SIZE", NVML_ERROR_INSUFFICIENT_SIZE, "Insufficient Size"},
    {"DRIVER_NOT_LOADED", NVML_ERROR_DRIVER_NOT_LOADED, "Driver Not Loaded"},
    {"TIMEOUT", NVML_ERROR_TIMEOUT, "Timeout"},
    {"LIBRARY_NOT_FOUND", NVML_ERROR_LIBRARY_NOT_FOUND, "NVML Shared Library Not Found"},
    {"FUNCTION_NOT_FOUND", NVML_ERROR_FUNCTION_NOT_FOUND, "Function Not Found"},
    {"GPU_IS_LOST", NVML_ERROR_GPU_IS_LOST, "GPU is lost"},
    {"OPERATING_SYSTEM", NVML_ERROR_OPERATING_SYSTEM, "Operating System Error"},
    {"LIB_RM_VERSION_MISMATCH", NVML_ERROR_LIB_RM_VERSION_MISMATCH,
     "Driver/library version mismatch"},
    {"UNKNOWN", NVML_ERROR_UNKNOWN, "Unknown Error"},
};
#define N_ERRORS (sizeof ERRORS / sizeof ERRORS[0])

/* nvmlDeviceArchitecture_t values from nvml.h */
static const struct {
    const char *name;
    unsigned int value;
} ARCHS[] = {
    {"KEPLER", 2}, {"MAXWELL", 3}, {"PASCAL", 4}, {"VOLTA", 5},     {"TURING", 6},
    {"AMPERE", 7}, {"ADA", 8},     {"HOPPER", 9}, {"BLACKWELL", 10}, {"UNKNOWN", 0xffffffffu},
};
#define N_ARCHS (sizeof ARCHS / sizeof ARCHS[0])

#define MAX_GPUS 16
#define MAX_PROCS 16

struct fake_process {
    unsigned int pid;
    unsigned long long used;
};

struct fake_device {
    unsigned int index;
    int cc_major, cc_minor;
    unsigned long long memory;
    char uuid[96];
    unsigned int arch;
    char name[96];
    nvmlReturn_t handle_error;
    unsigned int util_gpu, util_memory;
    unsigned int n_procs;
    struct fake_process procs[MAX_PROCS];
};

typedef struct fake_device *nvmlDevice_t;

typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

static struct {
    int initialized;
    char driver[80];
    int cuda; /* 0: no libcuda */
    unsigned int count;
    struct fake_device gpus[MAX_GPUS];
} S;

static int error_code(const char *name, nvmlReturn_t *out) {
    const char *n = strncmp(name, "NVML_ERROR_", 11) == 0 ? name + 11 : name;
    for (size_t i = 0; i < N_ERRORS; i++) {
        if (strcmp(n, ERRORS[i].name) == 0) {
            *out = ERRORS[i].code;
            return 1;
        }
    }
    return 0;
}

static nvmlReturn_t scenario_error(const char *path, int line, const char *what) {
    fprintf(stderr, "fake libnvidia-ml: %s:%d: %s\n", path, line, what);
    return NVML_ERROR_UNKNOWN;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) *--end = '\0';
    return s;
}

/* Reads the scenario into S; returns what nvmlInit should return. */
static nvmlReturn_t load_scenario(void) {
    memset(&S, 0, sizeof S);
    const char *path = getenv("PTENV_FAKE_NVML_SCENARIO");
    if (path == NULL || *path == '\0') {
        /* In a container of the test bed's GPU engine, the stand-in hook (tests/gpuhook)
         * writes the visible GPUs here: a container's environment cannot be set by a hook. */
        path = CONTAINER_SCENARIO;
        if (access(path, F_OK) != 0) return NVML_ERROR_DRIVER_NOT_LOADED;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) return scenario_error(path, 0, "cannot open the scenario file");
    char buf[512];
    int lineno = 0;
    nvmlReturn_t init = NVML_SUCCESS;
    while (fgets(buf, sizeof buf, f) != NULL) {
        lineno++;
        char *hash = strchr(buf, '#');
        if (hash != NULL) *hash = '\0';
        char *line = trim(buf);
        if (*line == '\0') continue;
        char word[32];
        int used = 0;
        if (sscanf(line, "%31s %n", word, &used) != 1) continue;
        char *rest = trim(line + used);
        if (strcmp(word, "driver") == 0) {
            snprintf(S.driver, sizeof S.driver, "%s", rest);
        } else if (strcmp(word, "cuda") == 0) {
            S.cuda = atoi(rest);
        } else if (strcmp(word, "init_error") == 0) {
            if (!error_code(rest, &init)) {
                fclose(f);
                return scenario_error(path, lineno, "unknown init_error name");
            }
        } else if (strcmp(word, "gpu") == 0) {
            if (S.count == MAX_GPUS) {
                fclose(f);
                return scenario_error(path, lineno, "too many GPUs");
            }
            struct fake_device *d = &S.gpus[S.count];
            char arch[32];
            int name_at = 0;
            if (sscanf(rest, "%d.%d %llu %95s %31s %n", &d->cc_major, &d->cc_minor, &d->memory,
                       d->uuid, arch, &name_at) != 5 ||
                name_at == 0 || rest[name_at] == '\0') {
                fclose(f);
                return scenario_error(path, lineno,
                                      "expected: gpu CC MEMORY_BYTES UUID ARCH NAME...");
            }
            int known = 0;
            for (size_t i = 0; i < N_ARCHS; i++) {
                if (strcmp(arch, ARCHS[i].name) == 0) {
                    d->arch = ARCHS[i].value;
                    known = 1;
                }
            }
            if (!known) {
                fclose(f);
                return scenario_error(path, lineno, "unknown architecture");
            }
            snprintf(d->name, sizeof d->name, "%s", trim(rest + name_at));
            d->index = S.count++;
        } else if (strcmp(word, "gpu_error") == 0) {
            unsigned int idx;
            char name[64];
            nvmlReturn_t code;
            if (sscanf(rest, "%u %63s", &idx, name) != 2 || idx >= MAX_GPUS ||
                !error_code(name, &code)) {
                fclose(f);
                return scenario_error(path, lineno, "expected: gpu_error INDEX ERROR_NAME");
            }
            S.gpus[idx].handle_error = code;
        } else if (strcmp(word, "load") == 0) {
            unsigned int idx, gpu, mem;
            if (sscanf(rest, "%u %u %u", &idx, &gpu, &mem) != 3 || idx >= MAX_GPUS || gpu > 100 ||
                mem > 100) {
                fclose(f);
                return scenario_error(path, lineno, "expected: load INDEX GPU_PERCENT MEM_PERCENT");
            }
            S.gpus[idx].util_gpu = gpu;
            S.gpus[idx].util_memory = mem;
        } else if (strcmp(word, "process") == 0) {
            unsigned int idx, pid;
            unsigned long long used;
            if (sscanf(rest, "%u %u %llu", &idx, &pid, &used) != 3 || idx >= MAX_GPUS ||
                S.gpus[idx].n_procs == MAX_PROCS) {
                fclose(f);
                return scenario_error(path, lineno, "expected: process INDEX PID USED_BYTES");
            }
            struct fake_process *p = &S.gpus[idx].procs[S.gpus[idx].n_procs++];
            p->pid = pid;
            p->used = used;
        } else {
            fclose(f);
            return scenario_error(path, lineno, "unknown statement");
        }
    }
    fclose(f);
    return init;
}

static nvmlReturn_t copy_string(char *dst, unsigned int len, const char *src) {
    if (dst == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(src) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(dst, src, strlen(src) + 1);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) {
    nvmlReturn_t r = load_scenario();
    S.initialized = (r == NVML_SUCCESS);
    return r;
}

nvmlReturn_t nvmlInit(void) { return nvmlInit_v2(); }

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    return nvmlInit_v2();
}

nvmlReturn_t nvmlShutdown(void) {
    if (!S.initialized) return NVML_ERROR_UNINITIALIZED;
    S.initialized = 0;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result) {
    for (size_t i = 0; i < N_ERRORS; i++)
        if (ERRORS[i].code == result) return ERRORS[i].text;
    return "Unknown Error";
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    if (!S.initialized) return NVML_ERROR_UNINITIALIZED;
    if (S.driver[0] == '\0') return NVML_ERROR_UNKNOWN;
    return copy_string(version, length, S.driver);
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
    char v[96];
    /* Real NVML reports "12.550.54.15" for driver 550.54.15. */
    snprintf(v, sizeof v, "%d.%s", S.cuda > 0 ? S.cuda / 1000 : 12, S.driver);
    return copy_string(version, length, v);
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *cudaDriverVersion) {
    if (!S.initialized) return NVML_ERROR_UNINITIALIZED;
    if (cudaDriverVersion == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    if (S.cuda <= 0) return NVML_ERROR_LIBRARY_NOT_FOUND;
    *cudaDriverVersion = S.cuda;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *cudaDriverVersion) {
    if (!S.initialized) return NVML_ERROR_UNINITIALIZED;
    if (cudaDriverVersion == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    /* v1 answers "a known supported version number" without libcuda (docs/compatibility.md §5). */
    *cudaDriverVersion = S.cuda > 0 ? S.cuda : 12000;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount) {
    if (!S.initialized) return NVML_ERROR_UNINITIALIZED;
    if (deviceCount == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *deviceCount = S.count;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCount(unsigned int *deviceCount) {
    return nvmlDeviceGetCount_v2(deviceCount);
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if (!S.initialized) return NVML_ERROR_UNINITIALIZED;
    if (device == NULL || index >= S.count) return NVML_ERROR_INVALID_ARGUMENT;
    if (S.gpus[index].handle_error != NVML_SUCCESS) return S.gpus[index].handle_error;
    *device = &S.gpus[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

static int valid(nvmlDevice_t d) {
    return S.initialized && d != NULL && d >= S.gpus && d < S.gpus + S.count;
}

static unsigned long long used_memory(nvmlDevice_t d) {
    unsigned long long used = 0;
    for (unsigned int i = 0; i < d->n_procs; i++) used += d->procs[i].used;
    return used < d->memory ? used : d->memory;
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t device, unsigned int *index) {
    if (!valid(device) || index == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *index = device->index;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    return copy_string(name, length, device->name);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    if (!valid(device)) return NVML_ERROR_INVALID_ARGUMENT;
    return copy_string(uuid, length, device->uuid);
}

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor) {
    if (!valid(device) || major == NULL || minor == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *major = device->cc_major;
    *minor = device->cc_minor;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    if (!valid(device) || memory == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    memory->total = device->memory;
    memory->used = used_memory(device);
    memory->free = device->memory - memory->used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    if (!valid(device) || memory == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    /* NVML_STRUCT_VERSION(Memory, 2): size | 2 << 24, as nvml-wrapper sets it. */
    if (memory->version != (unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24)))
        return NVML_ERROR_INVALID_ARGUMENT; /* real NVML: ARGUMENT_VERSION_MISMATCH */
    memory->total = device->memory;
    memory->reserved = 0;
    memory->used = used_memory(device);
    memory->free = device->memory - memory->used;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, unsigned int *arch) {
    if (!valid(device) || arch == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *arch = device->arch;
    return NVML_SUCCESS;
}

typedef struct {
    unsigned int gpu, memory;
} nvmlUtilization_t;

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    if (!valid(device) || utilization == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    utilization->gpu = device->util_gpu;
    utilization->memory = device->util_memory;
    return NVML_SUCCESS;
}

/* nvmlProcessInfo_t of nvml.h (the v2 layout, which the _v3 call fills). */
typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

/* As NVML: with too small a buffer (or none) it sets *infoCount to the number of processes and
 * answers INSUFFICIENT_SIZE, which is how callers ask for the count first. */
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount,
                                                     nvmlProcessInfo_t *infos) {
    if (!valid(device) || infoCount == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned int n = device->n_procs;
    if (*infoCount < n || (infos == NULL && n > 0)) {
        *infoCount = n;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned int i = 0; i < n; i++) {
        infos[i].pid = device->procs[i].pid;
        infos[i].usedGpuMemory = device->procs[i].used;
        infos[i].gpuInstanceId = 0xFFFFFFFFu;
        infos[i].computeInstanceId = 0xFFFFFFFFu;
    }
    *infoCount = n;
    return NVML_SUCCESS;
}
