/*
 * A fake `nvidia-smi` for ptenv's test bed: the program the NVIDIA container toolkit mounts
 * into a container that asks for the `utility` capability, answering from the fake NVML
 * (fake_nvml.c, linked in) and so from the same scenario. It knows only the query ptenv
 * asks: `--query-gpu=FIELDS --format=csv,noheader,nounits` with the fields index, name, uuid,
 * compute_cap, memory.total (MiB) and driver_version. Built statically by tests/nvml/build.sh
 * so it runs in any image; the stand-in hook (tests/gpuhook) puts it in the container.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct fake_device *nvmlDevice_t;
typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

nvmlReturn_t nvmlInit_v2(void);
nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length);
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *deviceCount);
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device);
nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length);
nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length);
nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor);
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory);

static const char *FIELDS[] = {"index", "name", "uuid", "compute_cap", "memory.total",
                               "driver_version"};
#define N_FIELDS (sizeof FIELDS / sizeof FIELDS[0])

static int usage(void) {
    fprintf(stderr, "fake nvidia-smi (ptenv test bed): only --query-gpu=FIELDS "
                    "--format=csv,noheader,nounits\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *query = NULL;
    int format = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--query-gpu=", 12) == 0)
            query = argv[i] + 12;
        else if (strcmp(argv[i], "--format=csv,noheader,nounits") == 0)
            format = 1;
        else
            return usage();
    }
    if (query == NULL || !format) return usage();

    int wanted[N_FIELDS];
    size_t n_wanted = 0;
    char fields[256];
    snprintf(fields, sizeof fields, "%s", query);
    for (char *f = strtok(fields, ","); f != NULL; f = strtok(NULL, ",")) {
        size_t k = 0;
        while (k < N_FIELDS && strcmp(f, FIELDS[k]) != 0) k++;
        if (k == N_FIELDS || n_wanted == N_FIELDS) {
            printf("Field \"%s\" is not a valid field to query.\n", f);
            return 2;
        }
        wanted[n_wanted++] = (int)k;
    }

    if (nvmlInit_v2() != 0) {
        /* nvidia-smi's own words and exit code when it cannot reach the driver */
        printf("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
               "Make sure that the latest NVIDIA driver is installed and running.\n\n");
        return 9;
    }
    char driver[80] = "";
    nvmlSystemGetDriverVersion(driver, sizeof driver);
    unsigned int count = 0;
    nvmlDeviceGetCount_v2(&count);
    for (unsigned int i = 0; i < count; i++) {
        nvmlDevice_t d;
        if (nvmlDeviceGetHandleByIndex_v2(i, &d) != 0) continue;
        for (size_t k = 0; k < n_wanted; k++) {
            char text[128] = "";
            int major = 0, minor = 0;
            nvmlMemory_t mem = {0, 0, 0};
            switch (wanted[k]) {
            case 0: snprintf(text, sizeof text, "%u", i); break;
            case 1: nvmlDeviceGetName(d, text, sizeof text); break;
            case 2: nvmlDeviceGetUUID(d, text, sizeof text); break;
            case 3:
                nvmlDeviceGetCudaComputeCapability(d, &major, &minor);
                snprintf(text, sizeof text, "%d.%d", major, minor);
                break;
            case 4:
                nvmlDeviceGetMemoryInfo(d, &mem);
                snprintf(text, sizeof text, "%llu", mem.total / (1024ULL * 1024ULL));
                break;
            default: snprintf(text, sizeof text, "%s", driver); break;
            }
            printf("%s%s", k == 0 ? "" : ", ", text);
        }
        printf("\n");
    }
    return 0;
}
